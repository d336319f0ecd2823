package cops

import (
	"slices"
	"testing"
)

func decFor(h Handle, solicited bool, ctx Context) *Message {
	m := &Message{Header: Header{Op: OpDEC, ClientType: ClientTypeSession}, Handle: h,
		Decisions: []Decision{{Context: ctx, Command: CommandInstall}}}
	if solicited {
		m.Flags = FlagSolicited
	}
	return m
}

func TestPEPStateMatchesDecisions(t *testing.T) {
	s := newPEPState()
	aaa, ldp := make(chan decResult, 1), make(chan decResult, 1)
	if err := s.start(1, openRequest{ctx: KindAAA.Context()}, aaa); err != nil {
		t.Fatal(err)
	}
	if err := s.start(1, openRequest{ctx: KindLDP.Context()}, ldp); err == nil {
		t.Fatal("second request on a busy handle accepted")
	}
	if _, ok := s.decision(decFor(1, false, KindAAA.Context())); ok {
		t.Fatal("unsolicited DEC answered a request")
	}
	if _, ok := s.decision(decFor(2, true, KindAAA.Context())); ok {
		t.Fatal("DEC for another handle answered a request")
	}
	if ch, ok := s.decision(decFor(1, true, KindAAA.Context())); !ok || ch != aaa {
		t.Fatal("solicited DEC did not answer its request")
	}
	// The AAA request times out, LDP starts; a late AAA answer must not
	// pass for the LDP one.
	s.cancel(1, aaa)
	if err := s.start(1, openRequest{ctx: KindLDP.Context()}, ldp); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.decision(decFor(1, true, KindAAA.Context())); ok {
		t.Fatal("late AAA decision taken for the LDP request")
	}
	s.cancel(1, aaa) // stale cancel leaves the LDP waiter alone
	if ch, ok := s.decision(decFor(1, true, Context{})); !ok || ch != ldp {
		t.Fatal("DEC without context did not answer the waiting request")
	}
}

func TestPEPStateLostAndResend(t *testing.T) {
	s := newPEPState()
	for _, h := range []Handle{9, 3, 5} {
		if err := s.start(h, openRequest{ctx: KindAAA.Context()}, make(chan decResult, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.lost(); len(got) != 3 {
		t.Fatalf("lost %d waiters", len(got))
	}
	if len(s.lost()) != 0 {
		t.Fatal("waiters survive lost()")
	}
	if got := s.resend(0, false); !slices.Equal(got, []Handle{3, 5, 9}) {
		t.Fatalf("resend all = %v", got)
	}
	s.remove(5)
	if got := s.resend(0, false); !slices.Equal(got, []Handle{3, 9}) {
		t.Fatalf("resend after remove = %v", got)
	}
	if got := s.resend(9, true); !slices.Equal(got, []Handle{9}) {
		t.Fatalf("resend one = %v", got)
	}
}

func TestTxTable(t *testing.T) {
	tt := newTxTable()
	tt.next = 0xFFFE
	a, b, c := make(chan gateResult, 1), make(chan gateResult, 1), make(chan gateResult, 1)
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
	if ch, ok := tt.reply(1); !ok || ch != b {
		t.Fatal("reply not matched")
	}
	if _, ok := tt.reply(1); ok {
		t.Fatal("reply matched twice")
	}
	tt.cancel(0xFFFF, b) // not a's channel: stays
	if got := tt.lost(); len(got) != 2 {
		t.Fatalf("lost %d", len(got))
	}
}
