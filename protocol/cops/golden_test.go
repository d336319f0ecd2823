package cops

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the encoder")

// Hand-assembled from RFC 2748 and PKT-SP-MM layouts: these do not come
// from the encoder.
var handGolden = []struct {
	name string
	m    *Message
	hex  string
}{
	{"KA", &Message{Header: Header{Op: OpKA}}, "10090000 00000008"},
	{"CAT", &Message{Header: Header{Op: OpCAT, ClientType: ClientTypeSession}, KATimer: 30},
		"10075153 00000010 0008 0a01 0000 001e"},
	{"DRQ", &Message{Header: Header{Op: OpDRQ, ClientType: ClientTypeSession}, Handle: 7, Reason: Reason{Code: ReasonTear}},
		"10045153 00000018 0008 0101 00000007 0008 0501 0004 0000"},
	{"OPN", &Message{Header: Header{Op: OpOPN, ClientType: ClientTypePCMM}, PEPID: "r1"},
		"1006800a 00000010 0007 0b01 72310000"},
	{"CC", &Message{Header: Header{Op: OpCC, ClientType: ClientTypeSession}, Error: Error{Code: ErrShuttingDown}},
		"10085153 00000010 0008 0801 000b 0000"},
	{"REQ-noLDP", &Message{Header: Header{Op: OpREQ, ClientType: ClientTypeSession}, Handle: 1, Context: KindNoLDP.Context(),
		ClientSI: []ClientSI{{Data: []byte{1, 0, 0, 0, 1, 0, 1, 'x'}}}},
		"10015153 00000024 0008 0101 00000001 0008 0201 0002 0003 000c 0901 01000000 010001 78"},
}

func TestHandGolden(t *testing.T) {
	for _, g := range handGolden {
		want, err := hex.DecodeString(strings.ReplaceAll(g.hex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.m.AppendTo(nil)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", g.name, got, want)
		}
	}
}

func TestGateSetGolden(t *testing.T) {
	p := sampleGateSet()
	got, err := p.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.ReplaceAll(
		"0008 0101 0005 0004"+ // Transaction ID 5, Gate-Set
			"0008 0201 0001 5153"+ // AMID
			"0008 0301 c6120102"+ // Subscriber ID 198.18.1.2
			"0010 0501 02 b8 fc 01 001e 0000 0000 0000"+ // Gate Spec: DSCP overwrite EF = 0xB8/0xFC, T1 30
			"0018 0601 0011 00 00 c6120102 c6120402 4e20 7530 40 000000"+ // Classifier
			"000c 0702 07000000 45460000", // Traffic Profile: service class name "EF"
		" ", ""))
	if !bytes.Equal(got, want) {
		t.Errorf("Gate-Set:\n got % x\nwant % x", got, want)
	}
}

// TestGolden keeps the encoding of every sample message in
// testdata/golden, so that any change to the wire form shows in review.
func TestGolden(t *testing.T) {
	msgs := sampleMessages()
	names := make([]string, 0, len(msgs))
	for n := range msgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := msgs[name].AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name+".hex")
		got := hexLines(b)
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", name, path, got)
		}
	}
}

// hexLines renders b as one 32-bit word per group, 8 groups per line.
func hexLines(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		end := min(i+4, len(b))
		sb.WriteString(hex.EncodeToString(b[i:end]))
		if (i/4)%8 == 7 || end == len(b) {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// TestFuzzSeeds keeps one named seed per sample message in
// testdata/fuzz/FuzzDecode (and the PCMM and session bodies in their
// targets' directories), so `go test` replays them and `go test -fuzz`
// starts from every message kind. Run with -update to rewrite them.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]byte{}
	for name, m := range sampleMessages() {
		b, err := m.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		seeds[filepath.Join("FuzzDecode", "seed-"+name)] = b
	}
	full, gs, s := fullPCMM(), sampleGateSet(), sampleSession()
	seeds[filepath.Join("FuzzPCMM", "seed-all-objects")], _ = full.AppendTo(nil)
	seeds[filepath.Join("FuzzPCMM", "seed-gate-set")], _ = gs.AppendTo(nil)
	seeds[filepath.Join("FuzzSession", "seed-session")], _ = s.AppendTo(nil)
	msgs := sampleMessages()
	names := make([]string, 0, len(msgs))
	for n := range msgs {
		names = append(names, n)
	}
	sort.Strings(names) // a stable stream, so the seed file is stable
	var stream []byte
	for _, n := range names {
		stream, _ = msgs[n].AppendTo(stream)
	}
	seeds[filepath.Join("FuzzFramer", "seed-stream-chunk-13")] = append([]byte{13}, stream...)
	for path, b := range seeds {
		path = filepath.Join("testdata", "fuzz", path)
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run with -update)", path)
		}
	}
}
