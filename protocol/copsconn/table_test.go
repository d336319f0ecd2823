package copsconn

import (
	"testing"

	"github.com/qoslab/qoslab/protocol/cops"
)

func TestGateTable(t *testing.T) {
	tt := newGateTable()
	tt.next = 0xFFFE
	a, b, c := &gateWaiter{}, &gateWaiter{}, &gateWaiter{}
	ta, _ := tt.start(0, a)
	tb, _ := tt.start(0, b)
	if ta != 0xFFFF || tb != 1 {
		t.Fatalf("ids %d %d: want 65535 then 1 (0 is skipped on wrap)", ta, tb)
	}
	if _, err := tt.start(1, c); err == nil {
		t.Fatal("duplicate transaction id accepted")
	}
	tt.next = 0xFFFE // the next free id after a busy 65535 and 1 is 2
	if tc, _ := tt.start(0, c); tc != 2 {
		t.Fatalf("skipped busy ids to %d, want 2", tc)
	}
	if w := tt.take(1, nil); w != b {
		t.Fatal("reply not matched")
	}
	if w := tt.take(1, nil); w != nil {
		t.Fatal("reply matched twice")
	}
	if w := tt.take(0xFFFF, b); w != nil { // not a's waiter: stays
		t.Fatal("took another's transaction")
	}
	if got := tt.takeAll(); len(got) != 2 {
		t.Fatalf("lost %d", len(got))
	}
}

func decFor(h cops.Handle, solicited bool, ctx cops.Context) *cops.Message {
	m := &cops.Message{Header: cops.Header{Op: cops.OpDEC, ClientType: cops.ClientTypeSession}, Handle: h,
		Decisions: []cops.Decision{{Context: ctx, Command: cops.CommandInstall}}}
	if solicited {
		m.Flags = cops.FlagSolicited
	}
	return m
}

// A Request's DEC: solicited, on its handle, and of its context when it
// names one.
func TestDecisionMatching(t *testing.T) {
	c := &Conn{reqs: map[cops.Handle]waiter{}}
	aaa, ldp := make(chan reqResult, 1), make(chan reqResult, 1)
	c.reqs[1] = waiter{cops.KindAAA.Context(), aaa}
	if c.decision(decFor(1, false, cops.KindAAA.Context())) {
		t.Fatal("unsolicited DEC answered a request")
	}
	if c.decision(decFor(2, true, cops.KindAAA.Context())) {
		t.Fatal("DEC for another handle answered a request")
	}
	if !c.decision(decFor(1, true, cops.KindAAA.Context())) || len(aaa) != 1 {
		t.Fatal("solicited DEC did not answer its request")
	}
	// The AAA request timed out, LDP waits; a late AAA answer must not
	// pass for the LDP one.
	c.reqs[1] = waiter{cops.KindLDP.Context(), ldp}
	if c.decision(decFor(1, true, cops.KindAAA.Context())) {
		t.Fatal("late AAA decision taken for the LDP request")
	}
	c.forget(1, aaa) // a stale forget leaves the LDP waiter alone
	if !c.decision(decFor(1, true, cops.Context{})) || len(ldp) != 1 {
		t.Fatal("DEC without context did not answer the waiting request")
	}
}

func TestOpenTable(t *testing.T) {
	o := newOpenTable()
	for _, h := range []cops.Handle{9, 3, 5} {
		o.put(h, openRequest{ctx: cops.KindAAA.Context()})
	}
	handles := func(ms []*cops.Message) (hs []cops.Handle) {
		for _, m := range ms {
			hs = append(hs, m.Handle)
		}
		return hs
	}
	if got := handles(o.requests(0, false)); len(got) != 3 || got[0] != 3 || got[2] != 9 {
		t.Fatalf("resend all = %v", got)
	}
	o.remove(5)
	if got := handles(o.requests(9, true)); len(got) != 1 || got[0] != 9 {
		t.Fatalf("resend one = %v", got)
	}
	if got := handles(o.requests(0, false)); len(got) != 2 {
		t.Fatalf("resend after remove = %v", got)
	}
}
