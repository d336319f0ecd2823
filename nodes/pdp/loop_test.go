package pdp

import (
	"context"
	"errors"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/osp"
)

// A request to a clearinghouse that refuses the connection never reached
// the wire, so it is not logged as sent; one that got an answer was.
func TestOnWire(t *testing.T) {
	port := freePort(t) // nothing listens there
	c := osp.NewClient(osp.ServerURL("127.0.0.1", port, false))
	defer c.Close()
	_, err := NewOSPClearinghouse(c).Authorize(context.Background(), cops.Session{CallID: "x", Side: flow.Originating})
	if err == nil {
		t.Fatal("authorised by nobody")
	}
	if onWire(err) {
		t.Fatalf("refused connection counted as sent: %v", err)
	}
	if !onWire(nil) || !onWire(errors.New("clearinghouse answered 500")) {
		t.Fatal("a request that got an answer counts as sent")
	}
}
