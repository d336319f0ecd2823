// Package clearinghouse is the OSP clearinghouse node (CH in docs/FLOW.md): it
// authorises calls for both policy servers by policy (package authz),
// issues PKCS#7-signed tokens, validates the tokens the terminating side
// presents, extends authorisations (ReauthorisationRequest), acknowledges
// CapabilitiesIndications, and records usage durably (package usage,
// <node dir>/usage.db). It serves OSP over HTTP/1.1 on port 1080, or
// HTTPS with mutual TLS from the lab PKI (param tls: "on").
//
// Parameters (topology params:, all optional):
//
//	port         TCP port (default 1080)
//	tls          "on" for HTTPS with mutual TLS from <labdir>/pki (default "off")
//	keylog       with tls: "off", or a file (relative to the node directory)
//	             for the TLS secrets in NSS key log format, for Wireshark's
//	             tls.keylog_file (default <node dir>/tls-keylog.txt)
//	token_ttl    how long an issued token is valid (default 10m)
//	max_duration seconds of call time a token authorises (default 14400)
//	policy       authorisation rules (see package authz; default: allow
//	             every call with class EF and 80000 bit/s, G.711 with
//	             its headers)
//	routes       where calls to a node go: "callee=proxy[,proxy...]; ..."
//	             (default: the proxy whose "domain" is the called URI's
//	             host, else the one the callee node's "proxy" parameter
//	             names, else the callee itself)
//
// Who may talk to it: policy servers only (role pdp). Over mutual TLS the
// client certificate must be a lab policy server's (subject OU "pdp", the
// CN a pdp node of the lab) and be used from that node's address; over
// plain HTTP the source address must be a policy server's. Anyone else
// gets OSP status 401 to every request (a certificate from another CA, or
// none, fails the TLS handshake first).
//
// Authorisation: the originating policy server (POL1) asks with Role
// "source" and gets a new transaction and, for each route to the called
// party up to MaximumDestinations (one when absent), a Destination with
// DestinationSignalAddress "[address]:port" of the terminating proxy and
// its own token. The terminating one (POL2) asks with Role "destination"
// and presents that token, which must verify, match the call and parties,
// and not have been used before; its answer reuses the transaction id, so
// both sides' usage records share it. A called party that is no node of
// the lab has no route (404).
//
// Usage: a UsageIndication is recorded only for a transaction this
// clearinghouse issued, naming that transaction's call and parties, from
// its policy server (the source side from the one it was issued to; the
// destination side from the one that presented the token, or, when the
// token was validated locally as the OSP Toolkit does, from the first
// policy server that reports it), with non-negative Amount and
// PostDialDelay, once per side. An identical indication again (the policy
// servers' spool retries) is confirmed "already recorded"; a conflicting
// one is refused (400) and logged. Records keep the duration in
// milliseconds and the release source. Issued transactions and used
// tokens are kept in tables of the usage database (ledger.go), so that a
// restart forgets neither.
package clearinghouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/osp"
)

// Run serves OSP on env.Self():port until ctx is cancelled. It calls
// env.Ready once listening.
func Run(ctx context.Context, env nodes.Env) error {
	cfg, err := parseConfig(env)
	if err != nil {
		return err
	}
	host := "0.0.0.0"
	if a := env.Self(); a.IsValid() {
		host = a.String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(cfg.port))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("clearinghouse: listen %s: %w", addr, err)
	}
	return serve(ctx, env, cfg, ln)
}

// serve runs the node on an open listener, which it closes.
func serve(ctx context.Context, env nodes.Env, cfg config, ln net.Listener) (err error) {
	defer ln.Close()
	svc, closeSvc, err := newService(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeSvc(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	srv := &http.Server{
		Handler:           osp.NewHandler(svc, svc.refused),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(env.Log.Handler(), slog.LevelWarn),
	}
	if cfg.tls {
		var keyLog io.Writer
		if cfg.keyLog != "" {
			f, err := os.OpenFile(cfg.keyLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("clearinghouse: key log: %w", err)
			}
			defer f.Close()
			keyLog = f
		}
		tlsCfg, err := osp.ServerTLSConfig(cfg.pkiDir, env.Name, keyLog)
		if err != nil {
			return fmt.Errorf("clearinghouse: tls: %w", err)
		}
		srv.TLSConfig = tlsCfg
	}
	scheme := "http"
	if cfg.tls {
		scheme = "https"
	}
	env.Log.Info("listening", "url", scheme+"://"+ln.Addr().String()+osp.Path, "policy", cfg.policy.String(),
		"usage_db", svc.store.Path())
	errc := make(chan error, 1)
	go func() {
		if cfg.tls {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	env.Ready()
	select {
	case err := <-errc:
		return fmt.Errorf("clearinghouse: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("clearinghouse: serve: %w", err)
	}
	return nil
}

// newService opens the usage store and loads the signing identity. The
// identity comes from the lab PKI (<labdir>/pki/<name>.pem); a node started
// without one (by hand, or before the launcher writes the PKI) makes its
// own in <node dir>/pki, so it still works, but its tokens then verify only
// against that CA.
func newService(ctx context.Context, env nodes.Env, cfg config) (*service, func() error, error) {
	pkiDir := cfg.pkiDir
	if _, err := os.Stat(osp.CertFile(pkiDir, env.Name)); err != nil {
		if cfg.tls {
			return nil, nil, fmt.Errorf("clearinghouse: tls needs the lab PKI: %w", err)
		}
		pkiDir = filepath.Join(env.Dir, "pki")
		env.Log.Warn("no lab PKI; using a private CA for tokens", "dir", pkiDir)
		if _, err := os.Stat(osp.CertFile(pkiDir, env.Name)); err != nil {
			if err := osp.WriteLabPKI(pkiDir, []osp.PKINode{{Name: env.Name, Role: osp.RoleClearinghouse}}); err != nil {
				return nil, nil, fmt.Errorf("clearinghouse: %w", err)
			}
		}
	}
	id, err := osp.LoadIdentity(pkiDir, env.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("clearinghouse: %w", err)
	}
	roots, err := osp.LoadCA(pkiDir)
	if err != nil {
		return nil, nil, fmt.Errorf("clearinghouse: %w", err)
	}
	dbPath := filepath.Join(env.Dir, usage.FileName)
	store, err := usage.Open(ctx, dbPath)
	if err != nil {
		return nil, nil, fmt.Errorf("clearinghouse: %w", err)
	}
	// A transaction stays as long as a call it authorised may still end
	// and be reported late: token lifetime + longest call + a day of spool.
	led, err := openLedger(ctx, dbPath, time.Duration(cfg.maxDuration)*time.Second+24*time.Hour)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	svc := &service{
		cfg:      cfg,
		signer:   osp.NewSigner(id.Cert, id.Key),
		verifier: osp.NewVerifier(roots, osp.WithSignerName(env.Name), osp.WithReplayStore(led)),
		store:    store,
		ledger:   led,
		peers:    peers{nodes: env.Nodes},
		routes:   routes{nodes: env.Nodes, explicit: cfg.routes},
		log:      env.Log,
		now:      time.Now,
	}
	closeAll := func() error { return errors.Join(led.Close(), store.Close()) }
	return svc, closeAll, nil
}
