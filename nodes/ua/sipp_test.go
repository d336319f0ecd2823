package ua

import (
	"bytes"
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/qoslab/qoslab/internal/wait"
	"github.com/qoslab/qoslab/nodes/nodestest"
)

// sipp runs Debian's sip-tester with one of its built-in scenarios on
// loopback, for at most one call and 20 s. It skips the test when sipp
// is not installed (CI installs it).
func sipp(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (Debian package sip-tester): skipping interop test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	base := []string{"-i", "127.0.0.1", "-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin", "-trace_err"}
	cmd := exec.CommandContext(ctx, path, append(base, args...)...)
	cmd.Dir = t.TempDir() // sipp writes its error/trace files here
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

var successfulCalls = regexp.MustCompile(`Successful call\s+\|\s+\d+\s+\|\s+(\d+)`)

// checkSipp waits for sipp and demands exit status 0 (every call
// completed its scenario with no unexpected message) and one successful
// call in its statistics.
func checkSipp(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	err := cmd.Wait()
	if err != nil {
		t.Fatalf("sipp: %v\n%s", err, tail(out.String(), 3000))
	}
	m := successfulCalls.FindStringSubmatch(out.String())
	if m == nil || m[1] != "1" {
		t.Fatalf("sipp reports no successful call:\n%s", tail(out.String(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestInteropUACCallsSippUAS: qoslab's UAC calls sipp's built-in UAS,
// which answers 180 then 200 with SDP, and echoes our RTP back.
func TestInteropUACCallsSippUAS(t *testing.T) {
	sipPort := freePort(t)
	cmd := sipp(t, "-sn", "uas", "-p", strconv.Itoa(int(sipPort)), "-mp", strconv.Itoa(int(freePort(t))), "-rtp_echo")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// sipp has no readiness signal: wait for its UDP socket.
	wait.For(t, "sipp to listen on its SIP port", func() bool { return wait.UDPListening(netip.AddrPortFrom(netip.Addr{}, sipPort)) })

	logs := &nodestest.Log{}
	uac, err := NewUAC(context.Background(), testEnv(t, "uac", "uac", logs, map[string]string{
		"sip_port":    strconv.Itoa(int(freePort(t))),
		"rtp_port":    strconv.Itoa(int(freePort(t))),
		"callee":      "uas",
		"callee_port": strconv.Itoa(int(sipPort)),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer uac.Close()
	res, err := uac.Call(context.Background(), CallRequest{Talk: "500ms"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeAnswered || res.Status != 200 || res.ByeStatus != 200 {
		t.Fatalf("call to sipp: %+v", res)
	}
	if !res.Ringing {
		t.Errorf("sipp's uas sends 180; the UAC did not see it")
	}
	if res.Media.Sent.Packets == 0 || res.Media.Received.Packets == 0 {
		t.Errorf("media with sipp (echo): sent %d, echoed back %d", res.Media.Sent.Packets, res.Media.Received.Packets)
	}
	checkSipp(t, cmd, &out)
}

// TestInteropSippUACCallsUAS: sipp's built-in UAC calls qoslab's UAS
// directly: INVITE, 100?/180/200, ACK, a second of media, BYE, 200.
func TestInteropSippUACCallsUAS(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "100ms"})
	cmd := sipp(t, "-sn", "uac", "-s", "uas", "-p", strconv.Itoa(int(freePort(t))),
		"-mp", strconv.Itoa(int(freePort(t))), "-rtp_echo", "-d", "1000",
		"127.0.0.1:"+strconv.Itoa(int(l.uasSIP)))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	checkSipp(t, cmd, &out)
	// The UAS answered with RTP that sipp echoed back to it.
	var ended bool
	for _, line := range bytes.Split(eventuallyLog(l.uasLog, "call ended"), []byte("\n")) {
		if bytes.Contains(line, []byte(`"call ended"`)) {
			ended = true
			if bytes.Contains(line, []byte(`"rtp_received":0,`)) || bytes.Contains(line, []byte(`"rtp_sent":0,`)) {
				t.Errorf("no media with sipp: %s", line)
			}
		}
	}
	if !ended {
		t.Errorf("UAS never logged the end of the call:\n%s", l.uasLog.String())
	}
}

// eventuallyLog waits for a log message to appear and returns the log.
func eventuallyLog(l *nodestest.Log, msg string) []byte {
	wait.Until(wait.Timeout, func() bool { return bytes.Contains([]byte(l.String()), []byte(msg)) })
	return []byte(l.String())
}
