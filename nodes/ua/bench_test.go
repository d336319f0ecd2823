package ua

import (
	"context"
	"testing"
)

// BenchmarkDirectCall is one whole call UAC -> UAS over loopback with no
// talk time and no ring: INVITE, 200, ACK, BYE, 200, plus opening and
// closing both RTP sockets. It reports the mean INVITE->200 setup time.
func BenchmarkDirectCall(b *testing.B) {
	l := newBenchLab(b)
	var setup float64
	b.ReportAllocs()
	for b.Loop() {
		res, err := l.uac.Call(context.Background(), CallRequest{Talk: "0s", Ring: "0s"})
		if err != nil || res.Outcome != OutcomeAnswered {
			b.Fatalf("call: %v %+v", err, res)
		}
		setup += res.SetupMillis
	}
	b.ReportMetric(setup*1000/float64(b.N), "setup-µs/call")
}
