package sipstack

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func request(t *testing.T, raw string) *sip.Request {
	t.Helper()
	m, err := sip.ParseMessage([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*sip.Request)
}

// RFC 3261 18.1.1 and RFC 3263 4.1: the next hop's transport parameter,
// and TCP above MTU-200 bytes.
func TestChoose(t *testing.T) {
	head := "INVITE sip:uas@198.18.4.2 SIP/2.0\nVia: SIP/2.0/UDP 198.18.1.2:5060;branch=z9hG4bK1\nCall-ID: c\nCSeq: 1 INVITE\n"
	cases := []struct {
		name, extra string
		pad         int
		want        string
	}{
		{"small, no transport named", "", 0, UDP},
		{"route names tcp", "Route: <sip:198.18.5.2;transport=tcp;lr>\n", 0, TCP},
		{"route names udp, URI tcp: the route wins", "Route: <sip:198.18.5.2;transport=udp;lr>\n", 0, UDP},
		{"exactly 1300 bytes", "", MaxUDP, UDP},
		{"1301 bytes", "", MaxUDP + 1, TCP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := head + tc.extra
			if tc.pad > 0 {
				base := len(request(t, raw+"X-Pad: \nContent-Length: 0\n\n").String())
				raw += "X-Pad: " + strings.Repeat("a", tc.pad-base) + "\n"
			}
			req := request(t, raw+"Content-Length: 0\n\n")
			if tc.pad > 0 && len(req.String()) != tc.pad {
				t.Fatalf("padded to %d bytes, want %d", len(req.String()), tc.pad)
			}
			if got := Choose(req); got != tc.want {
				t.Errorf("Choose = %s, want %s", got, tc.want)
			}
		})
	}
}

// sipgo logs an unparsable datagram whole; the node log keeps its head.
func TestCappedLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(cappedHandler{slog.NewJSONHandler(&buf, nil)})
	log.Error("failed to parse", "data", strings.Repeat("x", 40000), "short", "kept")
	out := buf.String()
	if len(out) > 2*maxLogValue || !strings.Contains(out, `"bytes":40000`) || !strings.Contains(out, `"short":"kept"`) {
		t.Errorf("log line (%d bytes): %.300s", len(out), out)
	}
}
