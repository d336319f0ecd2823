package ua

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
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

// messages returns "dir what flow/step" for every logged message of a call.
func messages(l *nodestest.Log, call string) []string {
	var out []string
	for _, m := range l.Messages(call) {
		out = append(out, m.Dir+" "+m.What+" "+m.Flow+"/"+strconv.Itoa(m.Step))
	}
	return out
}

// lab is a UAC and a UAS on loopback, calling each other directly.
type lab struct {
	uac, uas       *UAC
	uasNode        *UAS
	uacLog, uasLog *nodestest.Log
	uasSIP         uint16
}

func testEnv(t testing.TB, name, role string, logs *nodestest.Log, params map[string]string) nodes.Env {
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
	l := &lab{uacLog: &nodestest.Log{}, uasLog: &nodestest.Log{}, uasSIP: freePort(t)}
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
