package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/qoslab/qoslab/traffic/trace"
)

// Settle waits until every protocol message a lab node logged as sent for
// one of calls has been logged as received by its peer: then the whole
// exchange, including the FIG. 6 chains that go on after the caller's BYE
// is answered (Gate-Delete, usage reporting), is on the wire and in the
// captures. A UA's result arrives before those chains end, so stopping the
// captures at once would cut them off. Nodes log a message when their
// socket hands it over, after the capture saw it.
func Settle(ctx context.Context, labDir string, calls []string, timeout time.Duration) error {
	want := map[string]bool{}
	for _, c := range calls {
		want[c] = true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		lines, err := trace.ReadNodeLogs(labDir)
		if err != nil {
			return err
		}
		pending := unanswered(lines, want)
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: %d messages sent but not received after %v: %s", len(pending), timeout, strings.Join(pending, "; "))
		case <-tick.C:
		}
	}
}

// unfinished lists the calls whose policy exchanges have not reached their
// last message yet. Every sent message being received is not enough: a
// node may have received one and not yet sent what it triggers. So: a
// proxy that asked its PDP anything ends with a DRQ once the call is gone,
// and a PDP that asked the clearinghouse to authorise a call that then
// ended (REQ noLDP) ends with a UsageConfirmation (FIG. 6 steps 9, 18).
func unfinished(lines []trace.LogLine, calls map[string]bool) []string {
	type nodeCall struct{ node, call string }
	has := map[nodeCall]map[string]bool{}
	for _, l := range lines {
		if !calls[l.Call] {
			continue
		}
		k := nodeCall{l.Node, l.Call}
		if has[k] == nil {
			has[k] = map[string]bool{}
		}
		has[k][l.Dir+" "+l.Proto+" "+l.What] = true
	}
	var out []string
	for k, seen := range has {
		if seen["tx cops REQ AAA"] && !seen["tx cops DRQ"] {
			out = append(out, fmt.Sprintf("%s has not deleted its COPS handle (call %s)", k.node, k.call))
		}
		if seen["tx osp AuthorizationRequest"] && seen["rx cops REQ noLDP"] && !seen["rx osp UsageConfirmation"] {
			out = append(out, fmt.Sprintf("%s has no usage confirmation yet (call %s)", k.node, k.call))
		}
	}
	return out
}

// unanswered lists the distinct messages of the wanted calls that a node
// logged as sent and its peer has not logged as received. Retransmissions
// share a key, so a retransmitted request counts once. Nodes name SIP
// responses differently ("180" or "180 Ringing"), so only the code counts;
// a receiver that logs no call id (a PDP's DRQ) is matched by count; RTP is
// logged per stream, not per packet, and is left out.
func unanswered(lines []trace.LogLine, calls map[string]bool) []string {
	type key struct{ from, to, proto, what, call string }
	sent := map[key]bool{}
	got := map[key]bool{}
	anonymous := map[key]int{} // received without a call id, by key with call ""
	for _, l := range lines {
		if l.Peer == "" || l.Proto == "rtp" {
			continue
		}
		what := l.What
		if l.Proto == "sip" {
			what, _, _ = strings.Cut(what, " ")
		}
		switch {
		case l.Dir == "tx" && calls[l.Call]:
			sent[key{l.Node, l.Peer, l.Proto, what, l.Call}] = true
		case l.Dir == "rx" && l.Call == "":
			anonymous[key{l.Peer, l.Node, l.Proto, what, ""}]++
		case l.Dir == "rx" && calls[l.Call]:
			got[key{l.Peer, l.Node, l.Proto, what, l.Call}] = true
		}
	}
	var out []string
	out = append(out, unfinished(lines, calls)...)
	for k := range sent {
		if got[k] {
			continue
		}
		anon := key{k.from, k.to, k.proto, k.what, ""}
		if anonymous[anon] > 0 {
			anonymous[anon]--
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s->%s (call %s)", k.proto, k.what, k.from, k.to, k.call))
	}
	return out
}
