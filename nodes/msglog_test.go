package nodes

import (
	"bytes"
	"log/slog"
	"testing"
)

// What LogMessage writes, ParseMessage reads back; other lines are not
// messages.
func TestParseMessageReadsLogMessage(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&b, nil))
	want := Message{Dir: Sent, Proto: "cops", What: "DEC Gate-Set", CallID: "c1", Flow: "setup", Step: 14, Peer: "r2"}
	LogMessage(log, want)
	log.Info("router connected", "dir", "tx")
	lines := bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
	if got, ok := ParseMessage(lines[0]); !ok || got != want {
		t.Errorf("ParseMessage = %+v %v, want %+v", got, ok, want)
	}
	for _, l := range [][]byte{lines[1], []byte("not json"), nil} {
		if m, ok := ParseMessage(l); ok {
			t.Errorf("ParseMessage(%q) = %+v", l, m)
		}
	}
}
