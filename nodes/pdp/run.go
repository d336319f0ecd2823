package pdp

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/authz"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/copsconn"
	"github.com/qoslab/qoslab/protocol/osp"
)

// Default ports (docs/CONTRACTS.md).
const (
	DefaultCOPSPort   = 3288 // proxy leg, the PDP listens
	DefaultPCMMPort   = 3918 // router leg, the PDP dials
	DefaultOSPPort    = 1080 // clearinghouse
	modeNoCH          = "no-ch"
	defaultOSPTimeout = 2 * time.Second
	// routerGrace bounds how long readiness waits for the router leg.
	routerGrace = 2 * time.Second
)

// Config is the policy server's configuration, read from the node's
// parameters by ConfigFrom.
type Config struct {
	Listen        netip.AddrPort // COPS server for the proxy
	Router        string         // router node name
	RouterAddr    netip.AddrPort // where the router's PCMM PEP listens
	Clearinghouse string         // clearinghouse node name; "" = no-clearinghouse mode
	OSPURL        string         // clearinghouse URL (OSP mode)
	OSPTLS        bool           // HTTPS with mutual TLS to the clearinghouse (param clearinghouse-tls)
	OSPKeyLog     bool           // write TLS session keys for the verifier and Wireshark (param clearinghouse-keylog, default on with TLS)
	OSPTimeout    time.Duration
	KeepAlive     uint16        // COPS KA timer in seconds on both legs; 0 = none
	GateTimeout   time.Duration // how long to wait for a router's answer
	SetupTimeout  time.Duration // end calls admitted but never connected nor released
	GateInfoEvery time.Duration // poll gate counters this often (0: never)
	RetryMin      time.Duration // usage delivery backoff
	RetryMax      time.Duration
}

// ConfigFrom reads the parameters:
//
//	router: r1                 router node (required); router-port: 3918
//	clearinghouse: ch          clearinghouse node; empty, or mode: no-ch,
//	                           runs without one; clearinghouse-port: 1080
//	cops-port: 3288            where the proxy connects
//	keepalive: 0               COPS keep-alive timer, seconds (0: none)
//	gate-timeout: 3s           wait for the router's Gate-Set/Delete answer
//	setup-timeout: 10m         end a call admitted but never connected nor released
//	gate-info-every: 5s        poll the counters of installed gates (0s: never),
//	                           so a router restart loses only the last few seconds
//	osp-timeout: 2s            one OSP exchange
//	usage-retry-min: 250ms     usage delivery backoff, doubling up to
//	usage-retry-max: 30s
func ConfigFrom(env nodes.Config) (Config, error) {
	var c Config
	var err error
	port := func(key string, def int) (uint16, error) {
		v := env.Param(key, strconv.Itoa(def))
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("pdp: %s: parameter %s=%q is not a port", env.Name, key, v)
		}
		return uint16(n), nil
	}
	cp, err := port("cops-port", DefaultCOPSPort)
	if err != nil {
		return c, err
	}
	c.Listen = netip.AddrPortFrom(env.Self(), cp)
	c.Router = env.Param("router", "")
	ra, err := env.PeerAddr("router")
	if err != nil {
		return c, fmt.Errorf("pdp: %s needs its router: %w", env.Name, err)
	}
	rp, err := port("router-port", DefaultPCMMPort)
	if err != nil {
		return c, err
	}
	c.RouterAddr = netip.AddrPortFrom(ra, rp)
	if env.Param("mode", "") != modeNoCH && env.Param("clearinghouse", "") != "" {
		c.Clearinghouse = env.Param("clearinghouse", "")
		ca, err := env.PeerAddr("clearinghouse")
		if err != nil {
			return c, err
		}
		chp, err := port("clearinghouse-port", DefaultOSPPort)
		if err != nil {
			return c, err
		}
		// Default: speak TLS when the clearinghouse node itself does.
		chTLS := "off"
		if n, ok := env.Nodes[c.Clearinghouse]; ok && n.Params["tls"] == "on" {
			chTLS = "on"
		}
		switch v := env.Param("clearinghouse-tls", chTLS); v {
		case "on":
			c.OSPTLS = true
		case "off":
		default:
			return c, fmt.Errorf("pdp: %s: parameter clearinghouse-tls=%q: want on or off", env.Name, v)
		}
		// With TLS the session keys are logged unless turned off: the
		// verifier, like Wireshark, reads the OSP leg with them.
		keyLog := "off"
		if c.OSPTLS {
			keyLog = "on"
		}
		c.OSPKeyLog = env.Param("clearinghouse-keylog", keyLog) == "on"
		c.OSPURL = osp.ServerURL(ca.String(), int(chp), c.OSPTLS)
	}
	ka, err := strconv.ParseUint(env.Param("keepalive", "0"), 10, 16)
	if err != nil {
		return c, fmt.Errorf("pdp: %s: parameter keepalive: %w", env.Name, err)
	}
	c.KeepAlive = uint16(ka)
	if c.GateTimeout, err = env.DurationParam("gate-timeout", 3*time.Second); err != nil {
		return c, err
	}
	if c.GateInfoEvery, err = env.DurationParam("gate-info-every", 5*time.Second); err != nil {
		return c, err
	}
	if c.SetupTimeout, err = env.DurationParam("setup-timeout", 10*time.Minute); err != nil {
		return c, err
	}
	if c.OSPTimeout, err = env.DurationParam("osp-timeout", defaultOSPTimeout); err != nil {
		return c, err
	}
	if c.RetryMin, err = env.DurationParam("usage-retry-min", 250*time.Millisecond); err != nil {
		return c, err
	}
	if c.RetryMax, err = env.DurationParam("usage-retry-max", 30*time.Second); err != nil {
		return c, err
	}
	return c, nil
}

// Run is the pdp role: the COPS PDP for the proxy on env.Self():3288, the
// PacketCable policy server of the router named by param "router", and the
// OSP client of the clearinghouse named by param "clearinghouse" (or, with
// none, the local authoriser and usage store in <env.Dir>/usage.db). Usage
// goes through the durable spool <env.Dir>/spool.db. It calls env.Ready
// once the proxy can connect and returns when ctx ends.
func Run(ctx context.Context, env nodes.Env) error {
	cfg, err := ConfigFrom(env.Config)
	if err != nil {
		return err
	}
	spool, err := OpenSpool(ctx, filepath.Join(env.Dir, SpoolFileName))
	if err != nil {
		return err
	}
	defer spool.Close()
	gates, err := OpenGateBook(ctx, filepath.Join(env.Dir, GateBookFileName))
	if err != nil {
		return err
	}
	defer gates.Close()
	leftGates, err := gates.List(ctx)
	if err != nil {
		return err
	}

	var ch Clearinghouse
	if cfg.OSPURL != "" {
		opts := []osp.ClientOption{osp.WithTimeout(cfg.OSPTimeout), osp.WithUsageRetries(0)}
		if cfg.OSPTLS {
			tc, err := clearinghouseTLS(env, cfg)
			if err != nil {
				return err
			}
			opts = append(opts, osp.WithTLS(tc))
		}
		oc := osp.NewClient(cfg.OSPURL, opts...)
		defer oc.Close()
		ch = NewOSPClearinghouse(oc)
		env.Log.Info("policy server with clearinghouse", "clearinghouse", cfg.Clearinghouse, "url", cfg.OSPURL)
	} else {
		policy, err := authz.FromParams(env.Params)
		if err != nil {
			return fmt.Errorf("pdp: %s: %w", env.Name, err)
		}
		store, err := usage.Open(ctx, filepath.Join(env.Dir, usage.FileName))
		if err != nil {
			return err
		}
		defer store.Close()
		ch = NewLocalClearinghouse(env.Name, policy, store)
		env.Log.Info("policy server without clearinghouse", "usage_db", store.Path())
	}

	resume, err := spool.List(ctx)
	if err != nil {
		env.Log.Error("usage spool has unreadable records; they stay in the spool", "err", err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("pdp: listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()

	g, gctx := errgroup.WithContext(ctx)
	srv := &proxyServer{ln: ln, kaTimer: cfg.KeepAlive, log: env.Log, nameOf: env.NameOf, now: time.Now,
		conns: map[uint64]*proxyConn{}, ids: map[*copsconn.Conn]*proxyConn{}}
	rl := &routerLink{addr: cfg.RouterAddr.String(), peer: cfg.Router, kaTimer: cfg.KeepAlive,
		gateTimeout: cfg.GateTimeout, log: env.Log, now: time.Now}
	rl.connect()
	lp := newLoop(gctx, &loop{
		log: env.Log,
		m:   NewMachine(MachineConfig{Node: env.Name, DSCPOf: authz.DSCP, SetupTimeout: cfg.SetupTimeout, GateInfoEvery: cfg.GateInfoEvery, UsageRetryMin: cfg.RetryMin, UsageRetryMax: cfg.RetryMax}),
		ch:  ch, chName: cfg.Clearinghouse, spool: spool, gates: gates,
		proxies: srv.lookup, router: rl, rtrName: cfg.Router,
	})
	srv.post, rl.post = lp.post, lp.post

	g.Go(func() error { return lp.run(resume, leftGates) })
	g.Go(func() error { return srv.serve(gctx) })
	g.Go(func() error { return rl.run(gctx) })
	env.Log.Info("policy server listening", "cops", cfg.Listen.String(), "router", cfg.RouterAddr.String())
	// Ready once the router leg is up too (it usually is within
	// milliseconds of the router's start), so that a call placed as soon
	// as the lab is up finds its gate's way open; a router that does not
	// come delays readiness by routerGrace only.
	t := time.NewTimer(routerGrace)
	select {
	case <-rl.up:
	case <-t.C:
		env.Log.Warn("router not connected yet; ready without it", "router", cfg.Router)
	case <-gctx.Done():
	}
	t.Stop()
	env.Ready()
	return g.Wait()
}

// clearinghouseTLS is the mutual-TLS client config for the clearinghouse:
// this node's lab certificate, the lab CA, and the clearinghouse's node
// name as the server name. With clearinghouse-keylog=on the session keys
// go to <Dir>/tls-keylog.txt, so Wireshark can decrypt the OSP leg.
func clearinghouseTLS(env nodes.Env, cfg Config) (*tls.Config, error) {
	var keyLog io.Writer
	if cfg.OSPKeyLog {
		f, err := os.OpenFile(filepath.Join(env.Dir, "tls-keylog.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("pdp: %s: key log: %w", env.Name, err)
		}
		keyLog = f // closed with the process
	}
	tc, err := osp.ClientTLSConfig(filepath.Join(env.LabDir, "pki"), env.Name, cfg.Clearinghouse, keyLog)
	if err != nil {
		return nil, fmt.Errorf("pdp: %s: clearinghouse TLS: %w", env.Name, err)
	}
	return tc, nil
}
