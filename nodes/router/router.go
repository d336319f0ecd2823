package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// Run is the router role. It runs inside the router's network namespace:
// it enables forwarding, builds the nftables data plane from a clean table,
// shapes the core link, then listens on TCP 3918 for the policy server and
// serves its gate commands until ctx ends. On return the table is gone.
func Run(ctx context.Context, env nodes.Env) error {
	rc, err := configFrom(env.Config)
	if err != nil {
		return err
	}
	// The namespace of the calling thread is the router's: the node
	// process is started inside it. Naming it explicitly keeps every
	// netlink socket there whichever thread opens it.
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("router: own network namespace: %w", err)
	}
	defer ns.Close()
	if err := enableForwarding(int(ns)); err != nil {
		return err
	}
	dp, err := OpenDataplane(DataplaneConfig{NetNS: int(ns), Access: rc.Access, Trusted: rc.Trusted})
	if err != nil {
		return err
	}
	defer func() {
		if err := dp.Close(); err != nil {
			env.Log.Warn("router: data plane close", "err", err)
		}
	}()
	if rc.Queuing != nil {
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return fmt.Errorf("router: netlink: %w", err)
		}
		err = installQueuing(h, *rc.Queuing)
		h.Close()
		if err != nil {
			return err
		}
	}

	// All addresses: the policy server dials the router's primary address,
	// which is on whichever interface the topology listed first.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(pcmmPort)))
	if err != nil {
		return fmt.Errorf("router: listen for the policy server: %w", err)
	}
	// The router is the PCMM PEP: it listens, yet it is the one that sends
	// OPN, keeps the connection alive and answers each gate command.
	cfg := copsconn.Config{
		Role:       copsconn.PEP,
		ClientType: cops.ClientTypePCMM,
		PEPID:      env.Name,
		Gates:      copsHandler(newPEP(dp, time.Now), env.Log, rc.Side, rc.PDP),
		Log:        env.Log,
	}
	env.Log.Info("router ready", "side", rc.Side.String(), "access", rc.Access, "core", rc.Core,
		"trusted", rc.Trusted, "listen", ln.Addr().String())
	env.Ready()
	if err := copsconn.Serve(ctx, ln, cfg); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("router: %w", err)
	}
	return nil
}
