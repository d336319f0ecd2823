package ua

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/internal/wait"
	"github.com/qoslab/qoslab/nodes/nodestest"
)

func mustCall(t *testing.T, u *UAC, r CallRequest) CallResult {
	t.Helper()
	res, err := u.Call(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkMedia demands real media both ways: about 50 packets/s for the
// talk time, nothing lost on loopback, and the UAS's own report.
func checkMedia(t *testing.T, res CallResult, minPackets uint64) {
	t.Helper()
	m := res.Media
	if m == nil {
		t.Fatal("no media report")
	}
	if m.Sent.Packets < minPackets || m.Received.Packets == 0 {
		t.Errorf("media: sent %d received %d, want >= %d sent and some back", m.Sent.Packets, m.Received.Packets, minPackets)
	}
	if m.Received.Lost != 0 || m.Received.Duplicates != 0 {
		t.Errorf("loopback loss: %+v", m.Received)
	}
	if m.Received.DSCP["0"] != m.Received.Packets {
		t.Errorf("unmarked media arrived as %v", m.Received.DSCP)
	}
	if res.PeerMedia == nil {
		t.Fatal("no media report from the UAS")
	}
	if res.PeerMedia.Packets+3 < m.Sent.Packets || res.PeerMedia.Packets > m.Sent.Packets || res.PeerMedia.Lost != 0 {
		t.Errorf("UAS received %+v of %d sent", *res.PeerMedia, m.Sent.Packets)
	}
}

func TestCallRingsThenAnswers(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "100ms"})
	res := mustCall(t, l.uac, CallRequest{Talk: "600ms", Codec: "PCMA"})
	if res.Outcome != OutcomeAnswered || res.Status != 200 || res.ByeStatus != 200 || res.HangupBy != "uac" {
		t.Fatalf("outcome %+v", res)
	}
	if !res.Ringing || res.PostDialDelayMillis <= 0 || res.SetupMillis < res.PostDialDelayMillis+90 {
		t.Errorf("ringing=%v pdd=%.1fms setup=%.1fms: want 180 then 200 after ~100ms",
			res.Ringing, res.PostDialDelayMillis, res.SetupMillis)
	}
	if res.Media.Codec != "PCMA" {
		t.Errorf("codec %s, want the offer's first (PCMA)", res.Media.Codec)
	}
	checkMedia(t, res, 15) // 600 ms is 30 packets; a loaded machine may not have sent the last due ones

	wantUAC := []string{"tx INVITE setup/1", "rx 180 setup/22", "rx 200 setup/25", "tx ACK setup/26", "tx RTP setup/29", "tx BYE teardown/1", "rx 200 teardown/12"}
	if got := withoutTrying(messages(l.uacLog, res.CallID)); !slices.Equal(got, wantUAC) {
		t.Errorf("UAC log\n got %q\nwant %q", got, wantUAC)
	}
	wantUAS := []string{"rx INVITE setup/11", "tx 180 setup/12", "tx 200 setup/23", "rx ACK setup/28", "tx RTP setup/29", "rx BYE teardown/3", "tx 200 teardown/10"}
	if got := eventually(func() []string { return messages(l.uasLog, res.CallID) }, len(wantUAS)); !slices.Equal(got, wantUAS) {
		t.Errorf("UAS log\n got %q\nwant %q", got, wantUAS)
	}
}

func TestCallAnswersWithoutRinging(t *testing.T) {
	l := newLab(t, nil) // UAS default ring 200ms, overridden per call
	res := mustCall(t, l.uac, CallRequest{Talk: "400ms", Ring: "0s"})
	if res.Outcome != OutcomeAnswered || res.Ringing || res.PostDialDelayMillis != 0 {
		t.Fatalf("outcome %+v", res)
	}
	if res.Media.Codec != "PCMU" {
		t.Errorf("codec %s", res.Media.Codec)
	}
	checkMedia(t, res, 10)
	for _, m := range messages(l.uasLog, res.CallID) {
		if strings.Contains(m, "180") {
			t.Errorf("UAS sent a 180 with ring 0: %q", m)
		}
	}
}

func TestUASHangsUp(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "0s"})
	res := mustCall(t, l.uac, CallRequest{Talk: "500ms", Hangup: "uas"})
	if res.Outcome != OutcomeAnswered || res.HangupBy != "uas" || res.ByeStatus != 0 {
		t.Fatalf("outcome %+v", res)
	}
	if res.TalkMillis < 450 {
		t.Errorf("UAS hung up after %.0f ms, want ~500", res.TalkMillis)
	}
	checkMedia(t, res, 12)
	want := []string{"tx INVITE setup/1", "rx 200 setup/25", "tx ACK setup/26", "tx RTP setup/29", "rx BYE teardown/1", "tx 200 teardown/12"}
	if got := withoutTrying(messages(l.uacLog, res.CallID)); !slices.Equal(got, want) {
		t.Errorf("UAC log\n got %q\nwant %q", got, want)
	}
}

func TestUASHangsUpByParam(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "0s", "hangup": "uas", "talk": "300ms"})
	// The UAC asks for hangup=uac explicitly: the header wins over the
	// UAS's parameter.
	res := mustCall(t, l.uac, CallRequest{Talk: "300ms", Hangup: "uac"})
	if res.HangupBy != "uac" || res.ByeStatus != 200 {
		t.Fatalf("outcome %+v", res)
	}
}

func TestUASHangsUpByParamAlone(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "0s", "hangup": "uas", "talk": "300ms"})
	res := mustCall(t, l.uac, CallRequest{Talk: "10s"}) // no hangup asked: the UAS's parameter rules
	if res.HangupBy != "uas" || res.TalkMillis > 5000 {
		t.Fatalf("outcome %+v", res)
	}
}

// TestCallCancelledWhileRinging: the caller gives up during the ring
// time; the UAC sends CANCEL (a 180 has arrived), the UAS stops ringing
// and answers the INVITE 487, and no media ever flows.
func TestCallCancelledWhileRinging(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "3s"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the UAC has the 180 (a CANCEL is allowed then).
		wait.Until(wait.Timeout, func() bool { return hasLine(l.uacLog, `"what":"180"`) })
		cancel()
	}()
	res, err := l.uac.Call(ctx, CallRequest{Talk: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cancelled call: outcome %s status %d error %q", res.Outcome, res.Status, res.Error)
	if res.Outcome == OutcomeAnswered || res.Status != 487 || !res.Ringing || res.Media.Sent.Packets != 0 {
		t.Fatalf("cancelled call: %+v", res)
	}
	if !wait.Until(wait.Timeout, func() bool { return hasLine(l.uasLog, `"what":"487"`) }) {
		t.Errorf("UAS did not answer 487 after CANCEL:\n%s", l.uasLog.String())
	}
}

func hasLine(l *nodestest.Log, s string) bool {
	return strings.Contains(l.String(), s)
}

func TestCallToUnknownNode(t *testing.T) {
	l := newLab(t, nil)
	if _, err := l.uac.Call(context.Background(), CallRequest{To: "nobody"}); err == nil {
		t.Fatal("call to a node not in the lab accepted")
	}
	if _, err := l.uac.Call(context.Background(), CallRequest{Hangup: "both"}); err == nil {
		t.Fatal("bad hangup accepted")
	}
}

func TestCallNobodyAnswers(t *testing.T) {
	l := newLab(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	l.uasNode.Close() // nobody listens any more
	res, err := l.uac.Call(ctx, CallRequest{Talk: "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeFailed || res.Error == "" {
		t.Fatalf("outcome %+v", res)
	}
}

// withoutTrying drops 100 Trying lines, which sipgo's server sends by
// itself only when the answer takes longer than 200 ms.
func withoutTrying(ms []string) []string {
	return slices.DeleteFunc(ms, func(s string) bool { return strings.HasPrefix(s, "rx 100 ") })
}

// eventually waits until f returns n items (or gives up) and returns
// what it last returned: the UAS logs its last line just after the UAC
// has its answer.
func eventually(f func() []string, n int) []string {
	wait.Until(wait.Timeout, func() bool { return len(f()) >= n })
	return f()
}

// TestCallerMarksItsOwnMedia: a UAC told to mark its RTP EF (the theft of
// service case) sends it marked, and the UAS reports seeing DSCP 46
// (loopback keeps the TOS byte; in a lab the edge router bleaches it).
func TestCallerMarksItsOwnMedia(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "0s"})
	ef := uint8(46)
	res := mustCall(t, l.uac, CallRequest{Talk: "300ms", DSCP: &ef})
	if res.Outcome != OutcomeAnswered || res.Media.Sent.DSCP != 46 {
		t.Fatalf("outcome %+v", res)
	}
	if res.PeerMedia == nil || res.PeerMedia.Packets == 0 || res.PeerMedia.DSCP["46"] != res.PeerMedia.Packets {
		t.Fatalf("UAS saw %+v, want every packet EF", res.PeerMedia)
	}
	if res.Media.Received.DSCP["0"] != res.Media.Received.Packets {
		t.Errorf("UAS's unmarked media arrived as %v", res.Media.Received.DSCP)
	}
}
