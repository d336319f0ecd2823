package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes/usage"
)

func TestCDRFormats(t *testing.T) {
	ctx := context.Background()
	labDir := t.TempDir()
	dir := filepath.Join(labDir, "nodes", "ch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := usage.Open(ctx, filepath.Join(dir, usage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	for i, role := range []string{"source", "destination"} {
		if _, err := s.Insert(ctx, usage.Record{TransactionID: "77", Role: role, CallID: "call-1", Source: "sip:uac@a",
			Destination: "sip:uas@b", ServiceClass: "EF", Bandwidth: 64000, Duration: 30, Unit: "s", StartTime: t0,
			TerminationCause: 16, TerminationText: "normal",
			CountersKnown: true, Packets: int64(1500 + i), Octets: int64(258000 + 172*i), CountersLost: i == 1}); err != nil {
			t.Fatal(err)
		}
	}
	// A record without figures (an indication that carried none).
	if _, err := s.Insert(ctx, usage.Record{TransactionID: "78", Role: "source", CallID: "call-2", Duration: 5, Unit: "s"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	recs, err := labCDRs(ctx, labDir)
	if err != nil || len(recs) != 3 || recs[0].Node != "ch" {
		t.Fatalf("records %+v %v", recs, err)
	}
	var js bytes.Buffer
	if err := writeCDRs(&js, "json", recs); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 3 || back[1]["role"] != "destination" ||
		back[0]["packets"] != 1500.0 || back[0]["octets"] != 258000.0 || back[1]["counters_lost"] != true ||
		back[0]["counters_known"] != true || back[2]["counters_known"] != false {
		t.Fatalf("json %s %v", js.String(), err)
	}
	var cs bytes.Buffer
	if err := writeCDRs(&cs, "csv", recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][1] != "77" || rows[1][16] != "16 normal" {
		t.Fatalf("csv %v %v", rows, err)
	}
	if h := rows[0]; h[18] != "packets" || h[19] != "bytes" || h[20] != "counters_lost" {
		t.Fatalf("csv header %v", h)
	}
	for i, want := range [][]string{{"1500", "258000", "false"}, {"1501", "258172", "true"}, {"", "", ""}} {
		if got := rows[i+1][18:]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("csv row %d counters %q, want %q", i+1, got, want)
		}
	}
	var tb bytes.Buffer
	if err := writeCDRs(&tb, "table", recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tb.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[1], "call-1") ||
		!strings.Contains(lines[0], "packets") || !strings.Contains(lines[0], "bytes") ||
		!strings.Contains(lines[1], " 1500 ") || !strings.Contains(lines[1], " 258000 ") ||
		!strings.Contains(lines[2], " 1501+ ") || !strings.Contains(lines[2], " 258172+ ") ||
		!strings.Contains(lines[4], "lower bound") {
		t.Fatalf("table:\n%s", tb.String())
	}
	if _, err := labCDRs(ctx, filepath.Join(labDir, "missing")); err == nil {
		t.Fatal("missing lab accepted")
	}
	cmd := newCDRCmd()
	cmd.SetArgs([]string{"--format", "xml"})
	cmd.SetOut(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Fatalf("bad format: %v", err)
	}
}
