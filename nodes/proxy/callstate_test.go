package proxy

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/protocol/cops"
)

// Each script is one order of arrival, written as the patent tells it:
// one event per line, "->", then the actions the proxy must take ("-" for
// none), or "phase X" to check where the call stands.
var callScripts = []struct {
	name   string
	script string
}{
	{"FIG. 5 setup, DEC after 180, then FIG. 6 teardown by the caller", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=tokA      -> forward INVITE token=tokA
		resp #1 100                     -> forward 1
		resp #2 180 sdp                 -> send REQ LDP; hold 2
		phase AwaitLDP
		DEC Install LDP                 -> forward 2
		phase Early
		resp #3 200 sdp                 -> forward 3
		phase Confirmed
		BYE caller                      -> forward BYE; send REQ noLDP
		DEC Remove noLDP                -> -
		BYE final 200                   -> send DRQ
		phase Done
	`},
	{"terminating side passes the received token to its PDP", `
		INVITE token=tokA               -> send REQ AAA token=tokA
		DEC Install AAA token=tokB      -> forward INVITE token=tokB
	`},
	{"DEC before 180: the 180 is held until the LDP DEC", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		resp #2 200 sdp                 -> hold 2
		DEC Install LDP                 -> forward 1; forward 2
		phase Confirmed
	`},
	{"200 racing 180: both held until the LDP DEC, released in order", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		resp #2 200 sdp                 -> hold 2
		resp #3 200 sdp                 -> hold 3
		DEC Install LDP                 -> forward 1; forward 2; forward 3
		phase Confirmed
	`},
	{"200 without 180 triggers LDP", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		phase Confirmed
	`},
	{"180 without SDP passes, the 183 with SDP triggers LDP", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180                     -> forward 1
		resp #2 183 sdp                 -> send REQ LDP; hold 2
		DEC Install LDP                 -> forward 2
	`},
	{"AAA failed closed (clearinghouse unreachable): 503 with Retry-After, INVITE never forwarded", `
		INVITE                          -> send REQ AAA
		DEC Remove AAA 503 clearinghouse unreachable -> respond 503 reason=clearinghouse unreachable retry-after=5; send DRQ
		phase Done
	`},
	{"AAA refused by the clearinghouse with its status: still a refusal, 403", `
		INVITE                          -> send REQ AAA
		DEC Remove AAA 403 barred       -> respond 403 reason=barred; send DRQ
		phase Done
	`},
	{"AAA refused: 403 with Reason, INVITE never forwarded", `
		INVITE                          -> send REQ AAA
		DEC Remove AAA no route         -> respond 403 reason=no route; send DRQ
		phase Done
		resp #1 180 sdp                 -> -
		DEC Install AAA token=late      -> -
	`},
	{"PDP timeout on AAA: 503 with Retry-After", `
		INVITE                          -> send REQ AAA
		timeout AAA                     -> respond 503 reason=policy server timeout retry-after=5; send DRQ
		DEC Install AAA token=late      -> -
		phase Done
	`},
	{"PDP timeout on LDP: caller 503, callee cancelled", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		timeout LDP                     -> abort downstream cancel; respond 503 reason=policy server timeout retry-after=5; send DRQ
		resp #2 487                     -> -
	`},
	{"LDP refused after the 200 raced in: callee gets ACK+BYE", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		resp #2 200 sdp                 -> hold 2
		DEC Remove LDP no bandwidth     -> abort downstream ack+bye 2; respond 403 reason=no bandwidth; send DRQ
	`},
	{"CANCEL during the AAA wait: 487 here, nothing forwarded", `
		INVITE                          -> send REQ AAA
		CANCEL                          -> respond 487 reason=cancelled; send DRQ
		DEC Install AAA token=late      -> -
		phase Done
	`},
	{"CANCEL after forwarding: CANCEL goes downstream, its 487 comes back", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		CANCEL                          -> forward CANCEL
		CANCEL                          -> -
		resp #1 487                     -> forward 1; send DRQ
		phase Done
	`},
	{"CANCEL while the LDP waits: the 487 stays behind the 180", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		CANCEL                          -> forward CANCEL
		resp #2 487                     -> hold 2
		DEC Install LDP                 -> forward 1; forward 2; send REQ noLDP
		DEC Remove noLDP                -> send DRQ
		phase Done
	`},
	{"callee rejects after ringing: gates released", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		resp #2 486                     -> forward 2; send REQ noLDP
		DEC Install noLDP               -> send DRQ
	`},
	{"BYE from the callee", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		BYE callee                      -> forward BYE; send REQ noLDP
		BYE final 200                   -> -
		phase Releasing
		DEC Remove noLDP                -> send DRQ
		phase Done
	`},
	{"BYE from both sides at once", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		BYE caller                      -> forward BYE; send REQ noLDP
		BYE callee                      -> forward BYE
		DEC Remove noLDP                -> -
		BYE final 200                   -> send DRQ
	`},
	{"noLDP unanswered: the handle still goes", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		BYE caller                      -> forward BYE; send REQ noLDP
		BYE final 200                   -> -
		timeout noLDP                   -> send DRQ
	`},
	{"PDP disconnect mid-call tears the call down", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		PDP lost                        -> tear down reason=policy server connection lost; send DRQ
		phase Done
		BYE caller                      -> forward BYE
	`},
	{"PDP disconnect during the AAA wait: 503, DRQ clears the PEP's copy of the handle", `
		INVITE                          -> send REQ AAA
		PDP lost                        -> respond 503 reason=policy server connection lost retry-after=5; send DRQ
		phase Done
	`},
	{"PDP disconnect while ringing", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		PDP lost                        -> abort downstream cancel; respond 503 reason=policy server connection lost retry-after=5; send DRQ
	`},
	{"PDP disconnect during release", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		BYE caller                      -> forward BYE; send REQ noLDP
		PDP lost                        -> -
		BYE final 200                   -> send DRQ
		phase Done
	`},
	{"unsolicited DEC Remove mid-call ends the call", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		DEC Remove - credit exhausted   -> tear down reason=credit exhausted; send DRQ
	`},
	{"callee hangs up on a held 200: the release waits for the LDP decision", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		BYE callee                      -> forward BYE; respond 487 reason=callee hung up
		DEC Install LDP                 -> send REQ noLDP
		DEC Remove noLDP                -> -
		BYE final 200                   -> send DRQ
	`},
	{"callee hangs up on a held 200, LDP refused: nothing to release", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		BYE callee                      -> forward BYE; respond 487 reason=callee hung up
		BYE final 200                   -> -
		DEC Remove LDP no bandwidth     -> send DRQ
		phase Done
	`},
	{"downstream gone while the LDP waits", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 180 sdp                 -> send REQ LDP; hold 1
		tx gone                         -> respond 408 reason=no final response
		timeout LDP                     -> send DRQ
		phase Done
	`},
	{"no answer downstream: 408 and the handle goes", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		tx gone                         -> respond 408 reason=no final response; send DRQ
		phase Done
	`},
	{"dialog gone without BYE releases resources", `
		INVITE                          -> send REQ AAA
		DEC Install AAA token=t         -> forward INVITE token=t
		resp #1 200 sdp                 -> send REQ LDP; hold 1
		DEC Install LDP                 -> forward 1
		tx gone                         -> send REQ noLDP
		DEC Remove noLDP                -> send DRQ
	`},
	{"INVITE retransmission is absorbed", `
		INVITE                          -> send REQ AAA
		INVITE                          -> -
	`},
}

func TestCallScripts(t *testing.T) {
	for _, sc := range callScripts {
		t.Run(sc.name, func(t *testing.T) {
			var c Call
			for i, line := range strings.Split(sc.script, "\n") {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				if p, ok := strings.CutPrefix(line, "phase "); ok {
					if got := c.Phase().String(); got != p {
						t.Fatalf("line %d: phase %s, want %s", i, got, p)
					}
					continue
				}
				evText, want, ok := strings.Cut(line, "->")
				if !ok {
					t.Fatalf("line %d: no '->' in %q", i, line)
				}
				ev, err := parseEvent(strings.TrimSpace(evText))
				if err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				got := renderActions(c.Step(ev))
				if want = strings.TrimSpace(want); got != want {
					t.Fatalf("line %d: %s\n got: %s\nwant: %s", i, strings.TrimSpace(evText), got, want)
				}
			}
		})
	}
}

// TestCallEndsFromEveryPhase checks that no call is left hanging: from
// every point of a full call, losing the PDP or the transaction, followed
// by the answers still outstanding, leaves the call Done with nothing held.
func TestCallEndsFromEveryPhase(t *testing.T) {
	prefix := []Event{
		{Kind: EvInvite},
		{Kind: EvDecInstall, Req: cops.KindAAA, Token: "t"},
		{Kind: EvResponse, Resp: 1, Status: 180, SDP: true},
		{Kind: EvDecInstall, Req: cops.KindLDP},
		{Kind: EvResponse, Resp: 2, Status: 200, SDP: true},
		{Kind: EvBye, FromCaller: true},
	}
	enders := []Event{
		{Kind: EvPDPLost},
		{Kind: EvTxGone},
	}
	for n := 0; n <= len(prefix); n++ {
		for _, end := range enders {
			var c Call
			for _, ev := range prefix[:n] {
				c.Step(ev)
			}
			c.Step(end)
			// Whatever is still outstanding, answering it must finish the call.
			c.Step(Event{Kind: EvByeFinal, Status: 200})
			c.Step(Event{Kind: EvDecRemove, Req: cops.KindNoLDP})
			c.Step(Event{Kind: EvResponse, Resp: 9, Status: 487})
			c.Step(Event{Kind: EvDecRemove, Req: cops.KindNoLDP})
			if n > 0 && c.Phase() != Done {
				t.Errorf("after %d events then %s: phase %s, want Done", n, end.Kind, c.Phase())
			}
			if len(c.held) != 0 {
				t.Errorf("after %d events then %s: %d responses still held", n, end.Kind, len(c.held))
			}
		}
	}
}

func renderActions(acts []Action) string {
	if len(acts) == 0 {
		return "-"
	}
	s := make([]string, len(acts))
	for i, a := range acts {
		s[i] = a.String()
	}
	return strings.Join(s, "; ")
}

func parseReq(s string) (cops.Kind, error) {
	switch s {
	case "AAA":
		return cops.KindAAA, nil
	case "LDP":
		return cops.KindLDP, nil
	case "noLDP":
		return cops.KindNoLDP, nil
	case "-":
		return 0, nil
	}
	return 0, fmt.Errorf("unknown REQ kind %q", s)
}

func parseEvent(s string) (Event, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Event{}, fmt.Errorf("empty event")
	}
	token := func(rest []string) string {
		for _, w := range rest {
			if v, ok := strings.CutPrefix(w, "token="); ok {
				return v
			}
		}
		return ""
	}
	switch {
	case f[0] == "INVITE":
		return Event{Kind: EvInvite, Token: token(f[1:])}, nil
	case f[0] == "DEC" && len(f) >= 3:
		req, err := parseReq(f[2])
		if err != nil {
			return Event{}, err
		}
		if f[1] == "Install" {
			return Event{Kind: EvDecInstall, Req: req, Token: token(f[3:])}, nil
		}
		reason := strings.Join(f[3:], " ")
		// "DEC Remove AAA 503 clearinghouse unreachable": a leading code
		// is the PDP's result.
		status := 0
		if code, rest, ok := strings.Cut(reason, " "); ok {
			if n, err := strconv.Atoi(code); err == nil {
				status, reason = n, rest
			}
		}
		return Event{Kind: EvDecRemove, Req: req, Reason: reason, Status: status}, nil
	case f[0] == "timeout" && len(f) == 2:
		req, err := parseReq(f[1])
		return Event{Kind: EvPolicyTimeout, Req: req}, err
	case s == "PDP lost":
		return Event{Kind: EvPDPLost}, nil
	case f[0] == "resp" && len(f) >= 3:
		id, err1 := strconv.Atoi(strings.TrimPrefix(f[1], "#"))
		st, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return Event{}, fmt.Errorf("bad response %q", s)
		}
		return Event{Kind: EvResponse, Resp: id, Status: st, SDP: len(f) > 3 && f[3] == "sdp"}, nil
	case s == "CANCEL":
		return Event{Kind: EvCancel}, nil
	case s == "BYE caller", s == "BYE callee":
		return Event{Kind: EvBye, FromCaller: f[1] == "caller"}, nil
	case f[0] == "BYE" && f[1] == "final" && len(f) == 3:
		st, err := strconv.Atoi(f[2])
		return Event{Kind: EvByeFinal, Status: st}, err
	case s == "tx gone":
		return Event{Kind: EvTxGone}, nil
	}
	return Event{}, fmt.Errorf("unknown event %q", s)
}
