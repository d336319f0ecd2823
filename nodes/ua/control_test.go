package ua

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes/nodestest"
)

// TestControlSocketPlacesCall runs the uac role as the node launcher
// would (RunUAC with a readiness callback) and places a call over its
// unix control socket, exactly as `qoslab call` does.
func TestControlSocketPlacesCall(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "50ms"})
	env := testEnv(t, "uac2", "uac", &nodestest.Log{}, map[string]string{
		"sip_port":    strconv.Itoa(int(freePort(t))),
		"rtp_port":    strconv.Itoa(int(freePort(t))),
		"callee":      "uas",
		"callee_port": strconv.Itoa(int(l.uasSIP)),
	})
	env.Nodes["uac2"] = env.Nodes["uac"]
	ready := make(chan struct{})
	env.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunUAC(ctx, env) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunUAC: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("RunUAC ended before ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("RunUAC not ready after 5s")
	}
	sock := filepath.Join(env.Dir, ControlSocketName)
	res, err := PlaceCall(context.Background(), sock, CallRequest{Talk: "300ms"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeAnswered || !res.Ringing || res.From != "uac2" || res.To != "uas" {
		t.Fatalf("result %+v", res)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"answered (200 OK)", "post-dial delay", "uac2 -> uas: sent", "uas -> uac2: received"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}

	// A bad request is a 400 with a message, not a call.
	if _, err := PlaceCall(context.Background(), sock, CallRequest{Talk: "forever"}); err == nil || !strings.Contains(err.Error(), "talk") {
		t.Errorf("bad talk time: %v", err)
	}
	resp, err := (&http.Client{Transport: unixTransport(sock)}).Get("http://uac/call")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /call: %s", resp.Status)
	}
}

// TestConcurrentCalls places 20 calls at once, as the e2e suite does:
// each gets its own RTP ports and its own complete media.
func TestConcurrentCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("20 concurrent calls: skipped in -short mode")
	}
	l := newLab(t, map[string]string{"ring": "50ms"})
	const n = 20
	results := make([]CallResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := l.uac.Call(context.Background(), CallRequest{Talk: "1s"})
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	ports := map[string]bool{}
	ids := map[string]bool{}
	for i, res := range results {
		if res.Outcome != OutcomeAnswered || res.ByeStatus != 200 {
			t.Errorf("call %d: %+v", i, res)
			continue
		}
		if ports[res.Media.Local] || ids[res.CallID] {
			t.Errorf("call %d reuses port %s or call id %s", i, res.Media.Local, res.CallID)
		}
		ports[res.Media.Local], ids[res.CallID] = true, true
		// The pacer keeps 50 packets/s however loaded the machine is, so
		// 1 s of talk is about 50 packets (less the last few due if the
		// sender was descheduled when the call ended); the UAS got all
		// but the few still in flight when it closed its socket.
		sent := res.Media.Sent.Packets
		if sent < 25 || res.Media.Received.Packets == 0 || res.PeerMedia == nil ||
			res.PeerMedia.Packets+3 < sent || res.PeerMedia.Packets > sent {
			t.Errorf("call %d media: sent %d, %+v / %+v", i, sent, res.Media.Received, res.PeerMedia)
		}
		if res.Media.Received.Lost != 0 || res.PeerMedia.Lost != 0 {
			t.Errorf("call %d lost packets on loopback: %d / %d", i, res.Media.Received.Lost, res.PeerMedia.Lost)
		}
	}
}
