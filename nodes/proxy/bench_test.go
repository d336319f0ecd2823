package proxy

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of whole calls through UAC -> SIP1 -> SIP2 -> UAS on loopback,
// each proxy asking its own real COPS PDP (protocol/cops) that answers at
// once. Run with a short -benchtime, e.g. -benchtime=200x.

// BenchmarkCallSetup measures INVITE -> 200 at the UAC (setup-µs/call):
// two AAA and two LDP round trips to the PDPs plus four SIP hops each way.
// ACK and BYE run outside the timer.
func BenchmarkCallSetup(b *testing.B) {
	pdp1, pdp2 := newScriptedPDP(b, nil), newScriptedPDP(b, nil)
	l := startLab(b, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerDirect)
	ctx := context.Background()
	body := sdpBody(l.uacAddr.Addr(), 20000, "0")
	var setup time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res := l.invite(ctx, body)
		setup += time.Since(start)
		if res.final == nil || res.final.StatusCode != 200 {
			b.Fatalf("call failed: %v", res)
		}
		b.StopTimer()
		res.dialog.Ack(ctx)
		if err := res.dialog.Bye(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(setup.Microseconds())/float64(b.N), "setup-µs/call")
}

// BenchmarkConcurrentCalls runs complete calls (INVITE, 200, ACK, BYE)
// from many goroutines at once and reports sustained calls/s.
func BenchmarkConcurrentCalls(b *testing.B) {
	pdp1, pdp2 := newScriptedPDP(b, nil), newScriptedPDP(b, nil)
	l := startLab(b, pdp1, pdp2, 2*time.Second)
	l.uas.setAnswer(answerDirect)
	ctx := context.Background()
	body := sdpBody(l.uacAddr.Addr(), 20000, "0")
	var failed atomic.Int64
	b.SetParallelism(8) // 8 x GOMAXPROCS calls in flight
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res := l.invite(ctx, body)
			if res.final == nil || res.final.StatusCode != 200 {
				failed.Add(1)
				continue
			}
			res.dialog.Ack(ctx)
			if err := res.dialog.Bye(ctx); err != nil {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d calls failed", n, b.N)
	}
}
