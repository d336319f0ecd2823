package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the proxies, their PEPs, the test PDPs and UAs start must
// be gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
