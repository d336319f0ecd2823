// Package placeholder is a stand-in role: it opens one listening socket on
// the node's primary address and waits. It lets a lab come up with roles
// that have no implementation yet, and gives the e2e suites a process that
// really listens in every namespace.
package placeholder

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/qoslab/qoslab/nodes"
)

// Run listens on UDP port (param "port", default 7) and echoes datagrams,
// which the lab's reachability probes use.
func Run(ctx context.Context, env nodes.Env) error {
	port := env.Param("port", "7")
	addr := net.JoinHostPort(addrString(env.Self()), port)
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("placeholder: listen %s: %w", addr, err)
	}
	defer pc.Close()
	env.Ready()
	go func() {
		<-ctx.Done()
		pc.Close()
	}()
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("placeholder: read: %w", err)
		}
		if _, err := pc.WriteTo(buf[:n], from); err != nil {
			env.Log.Warn("echo failed", "to", from, "err", err)
		}
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.String()
}
