package proxy

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sipgo binds and reads a new UDP socket whenever it must send and finds
// no pooled one. While the proxies run, every message must leave from the
// listening socket: after many calls no such extra reader may exist. (At
// shutdown sipgo can still race into one: TestMain tolerates those.)
func TestNoExtraSocketsAfterManyCalls(t *testing.T) {
	before := extraSipgoSockets() // earlier tests' shutdown races, if any
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerRing(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 30 {
		res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
		if res.final == nil || res.final.StatusCode != 200 {
			t.Fatalf("call failed: %v", res)
		}
		res.dialog.Ack(ctx)
		if err := res.dialog.Bye(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l.settled(pdp1, pdp2)
	if n := extraSipgoSockets() - before; n != 0 {
		t.Errorf("%d extra sipgo UDP sockets after 30 calls", n)
	}
}

// extraSipgoSockets counts sipgo's readers of sockets it bound itself.
func extraSipgoSockets() int {
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return strings.Count(stacks, "sip.(*TransportUDP).readUDPConnection")
}
