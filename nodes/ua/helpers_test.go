package ua

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/qoslab/qoslab/nodes"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var lo = netip.MustParseAddr("127.0.0.1")

// freePort finds a port nobody uses right now on loopback, over UDP and
// TCP (a SIP stack listens on both). Tests run side by side with other
// engineers' tests, so nothing is hard-coded.
func freePort(t testing.TB) uint16 {
	t.Helper()
	for {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
		if p%2 != 0 || p >= 65000 {
			continue
		}
		if l, err := net.Listen("tcp", netip.AddrPortFrom(lo, p).String()); err == nil {
			l.Close()
			return p
		}
	}
}

// logBuf collects a node's JSON log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

type logLine struct {
	Msg  string `json:"msg"`
	Dir  string `json:"dir"`
	What string `json:"what"`
	Call string `json:"call"`
	Flow string `json:"flow"`
	Step int    `json:"step"`
}

// messages returns "dir what flow/step" for every logged message of a call.
func (l *logBuf) messages(call string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var ll logLine
		if json.Unmarshal(line, &ll) != nil || ll.Msg != "msg" || ll.Call != call {
			continue
		}
		out = append(out, ll.Dir+" "+ll.What+" "+ll.Flow+"/"+strconv.Itoa(ll.Step))
	}
	return out
}

// lab is a UAC and a UAS on loopback, calling each other directly.
type lab struct {
	uac, uas       *UAC
	uasNode        *UAS
	uacLog, uasLog *logBuf
	uasSIP         uint16
}

func testEnv(t testing.TB, name, role string, logs *logBuf, params map[string]string) nodes.Env {
	return nodes.Env{
		Config: nodes.Config{
			Lab: "t", Name: name, Role: role, Dir: t.TempDir(),
			Nodes: map[string]nodes.NodeInfo{
				"uac": {Role: "uac", Addr: lo},
				"uas": {Role: "uas", Addr: lo},
			},
			Params: params,
		},
		Log:   slog.New(slog.NewJSONHandler(logs, nil)),
		Ready: func() {},
	}
}

func newBenchLab(b *testing.B) *lab { return newLab(b, map[string]string{"ring": "0s"}) }

func newLab(t testing.TB, uasParams map[string]string) *lab {
	t.Helper()
	l := &lab{uacLog: &logBuf{}, uasLog: &logBuf{}, uasSIP: freePort(t)}
	if uasParams == nil {
		uasParams = map[string]string{}
	}
	uasParams["sip_port"] = strconv.Itoa(int(l.uasSIP))
	uasParams["rtp_port"] = strconv.Itoa(int(freePort(t)))
	var err error
	l.uasNode, err = NewUAS(context.Background(), testEnv(t, "uas", "uas", l.uasLog, uasParams))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.uasNode.Close)
	l.uac, err = NewUAC(context.Background(), testEnv(t, "uac", "uac", l.uacLog, map[string]string{
		"sip_port":    strconv.Itoa(int(freePort(t))),
		"rtp_port":    strconv.Itoa(int(freePort(t))),
		"callee":      "uas",
		"callee_port": strconv.Itoa(int(l.uasSIP)),
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.uac.Close)
	return l
}

func unixTransport(sock string) *http.Transport {
	return &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
}
