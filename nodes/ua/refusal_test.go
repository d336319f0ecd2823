package ua

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes/nodestest"

	"github.com/emiago/sipgo/sip"
)

// refuser is a SIP peer that answers every INVITE with one final error
// response, the way SIP1 answers when policy refuses a call (403 with a
// Reason) or its policy server is unreachable (503 with Retry-After).
func refuser(t *testing.T, code int, reason string, hdrs ...sip.Header) uint16 {
	t.Helper()
	port := freePort(t)
	st, err := newStack("sip1", netip.AddrPortFrom(lo, port), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range hdrs {
			res.AppendHeader(h)
		}
		_ = tx.Respond(res)
		// Wait for the hop-by-hop ACK of the non-2xx, or for the
		// transaction to end (an ACK that came before this select is
		// absorbed by the transaction and never reaches the channel).
		select {
		case <-tx.Acks():
		case <-tx.Done():
		case <-time.After(2 * time.Second):
		}
	})
	if err := st.serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return port
}

func TestCallRefused(t *testing.T) {
	cases := []struct {
		code               int
		phrase, hdr, value string
	}{
		{403, "Forbidden", "Reason", `Q.850;cause=21;text="OSP: call not authorised"`},
		{503, "Service Unavailable", "Retry-After", "5"},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.code), func(t *testing.T) {
			proxyPort := refuser(t, c.code, c.phrase, sip.NewHeader(c.hdr, c.value))
			logs := &nodestest.Log{}
			env := testEnv(t, "uac", "uac", logs, map[string]string{
				"sip_port":   strconv.Itoa(int(freePort(t))),
				"rtp_port":   strconv.Itoa(int(freePort(t))),
				"callee":     "uas",
				"proxy":      "sip1",
				"proxy_port": strconv.Itoa(int(proxyPort)),
			})
			env.Nodes["sip1"] = env.Nodes["uac"]
			uac, err := NewUAC(context.Background(), env)
			if err != nil {
				t.Fatal(err)
			}
			defer uac.Close()
			res, err := uac.Call(context.Background(), CallRequest{Talk: "100ms"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != OutcomeRefused || res.Status != c.code || res.ReasonPhrase != c.phrase {
				t.Fatalf("result %+v", res)
			}
			got := res.Reason
			if c.hdr == "Retry-After" {
				got = res.RetryAfter
			}
			if got != c.value {
				t.Errorf("%s = %q, want %q", c.hdr, got, c.value)
			}
			if res.Media == nil || res.Media.Sent.Packets != 0 {
				t.Errorf("media sent on a refused call: %+v", res.Media)
			}
		})
	}
}
