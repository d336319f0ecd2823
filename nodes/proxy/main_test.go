package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the proxies, their PEPs, the test PDPs and UAs start must
// be gone when the tests end. One exception, sipgo's own: when a UA shuts
// down while a datagram is in flight, sipgo can bind a fresh socket for it
// after its pool was cleared and read it forever (its UDP reference
// counting goes negative). TestNoExtraSocketsAfterManyCalls checks that
// this never happens while the proxies run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection"))
}
