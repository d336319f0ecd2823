package clearinghouse

import (
	"context"
	"net/netip"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
	"github.com/qoslab/qoslab/protocol/osp"
)

// The OSP messages the clearinghouse logs for a call, checked against
// package flow: both sides' authorisation (setup) and usage (teardown),
// each policy server named by its own address, in every teardown variant.
func TestLoggedStepsAgainstFlow(t *testing.T) {
	for _, v := range []flow.Variant{0, flow.CalleeHangsUp} {
		t.Run(v.String(), func(t *testing.T) {
			lab := newTestLab(t, nil)
			var log nodestest.Log
			pol1, pol2 := netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("127.0.0.12")
			lab.cfg.Nodes["pol1"] = nodes.NodeInfo{Role: "pdp", Addr: pol1}
			lab.cfg.Nodes["pol2"] = nodes.NodeInfo{Role: "pdp", Addr: pol2}
			env := nodes.Env{Config: lab.cfg, Log: log.Logger(), Ready: func() {}}
			cfg, err := parseConfig(env)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			svc, closeStore, err := newService(ctx, env, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			from1, from2 := osp.Peer{Addr: netip.AddrPortFrom(pol1, 40001).String()}, osp.Peer{Addr: netip.AddrPortFrom(pol2, 40002).String()}

			r1 := svc.Authorize(ctx, from1, authRequest("call-1", osp.RoleSource, nil))
			if !r1.Status.OK() {
				t.Fatalf("source side: %+v", r1.Status)
			}
			r2 := svc.Authorize(ctx, from2, authRequest("call-1", osp.RoleDestination, r1.Destinations[0].Token))
			if !r2.Status.OK() {
				t.Fatalf("destination side: %+v", r2.Status)
			}
			for _, u := range []struct {
				from osp.Peer
				role string
			}{{from1, osp.RoleSource}, {from2, osp.RoleDestination}} {
				ind := usageIndication(r1.TransactionID)
				ind.CallID, ind.Role = osp.Base64("call-1"), u.role
				if cnf := svc.ReportUsage(ctx, u.from, ind); !cnf.Status.OK() {
					t.Fatalf("usage of %s: %+v", u.role, cnf.Status)
				}
			}
			msgs := log.Messages("call-1")
			if len(msgs) != 8 {
				t.Fatalf("logged %+v, want 8 messages", msgs)
			}
			nodestest.CheckSteps(t, nodestest.Call{Me: flow.CH, Variant: v, Phases: []flow.Phase{flow.Setup, flow.Teardown}}, msgs)
		})
	}
}
