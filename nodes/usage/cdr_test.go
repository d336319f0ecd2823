package usage

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
)

// writeLabStore makes <dir>/nodes/ch/usage.db with a call reported by both
// sides (the callee hung up after 700 ms of talk; r2 restarted during the
// call) and a call only the caller's side reported, without figures.
func writeLabStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "ch"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, filepath.Join(dir, "nodes", "ch", FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 25, 21, 0, 0, 0, time.FixedZone("CET", 3600))
	for i, role := range []string{"source", "destination"} {
		if _, err := s.Insert(ctx, Record{TransactionID: "77", Role: role, CallID: "call-1", Source: "sip:uac@a",
			Destination: "sip:uas@b", Reporter: []string{"pol1", "pol2"}[i], ServiceClass: "EF", Bandwidth: 80000,
			DurationMs: 700, Unit: "s", StartTime: t0, AlertTime: t0.Add(12 * time.Millisecond),
			ConnectTime: t0.Add(215 * time.Millisecond), EndTime: t0.Add(915 * time.Millisecond), PostDialDelay: 12,
			ReleaseSource: 2, TerminationCause: 16, TerminationText: "normal",
			CountersKnown: true, Packets: int64(1500 + i), Octets: int64(258000 + 172*i), CountersLost: i == 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Insert(ctx, Record{TransactionID: "78", Role: "source", CallID: "call-2", Unit: "s", StartTime: t0}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCDRsOneRowPerCall(t *testing.T) {
	recs, err := ReadDir(context.Background(), writeLabStore(t))
	if err != nil || len(recs) != 3 || recs[0].Node != "ch" {
		t.Fatalf("records %+v %v", recs, err)
	}
	cdrs := CDRs(recs)
	if len(cdrs) != 2 {
		t.Fatalf("%d CDRs, want one per call: %+v", len(cdrs), cdrs)
	}
	c := cdrs[0]
	if c.CallID != "call-1" || c.DurationMs != 700 || c.PostDialDelayMs != 12 || c.ReleasedBy != ReleasedByDestination ||
		c.Cause != "16 normal" || c.BandwidthBps != 80000 || c.StartUTC.Location() != time.UTC ||
		c.SourceSide == nil || *c.SourceSide.Packets != 1500 || c.SourceSide.Reporter != "pol1" ||
		c.DestinationSide == nil || *c.DestinationSide.Bytes != 258172 || !c.DestinationSide.CountersLost {
		t.Fatalf("call-1: %+v source %+v destination %+v", c, c.SourceSide, c.DestinationSide)
	}
	if c2 := cdrs[1]; c2.DestinationSide != nil || c2.SourceSide.Packets != nil || c2.DurationMs != 0 {
		t.Fatalf("call-2: %+v", c2)
	}

	var js bytes.Buffer
	if err := WriteCDRs(&js, FormatJSON, cdrs); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back[0]["duration_ms"] != 700.0 ||
		back[0]["start_utc"] != "2026-11-25T20:00:00Z" || back[0]["released_by"] != "destination" ||
		back[1]["destination_side"] != nil {
		t.Fatalf("json %s %v", js.String(), err)
	}

	var cs bytes.Buffer
	if err := WriteCDRs(&cs, FormatCSV, cdrs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("csv %v %v", rows, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for name, want := range map[string]string{"duration_ms": "700", "post_dial_delay_ms": "12", "start_utc": "2026-11-25T20:00:00.000Z",
		"connect_utc": "2026-11-25T20:00:00.215Z", "released_by": "destination", "bandwidth_bps": "80000",
		"source_packets": "1500", "destination_bytes": "258172", "destination_counters_lost": "true"} {
		if i, ok := col[name]; !ok || rows[1][i] != want {
			t.Errorf("csv column %s = %q, want %q (header %v)", name, rows[1][col[name]], want, rows[0])
		}
	}

	var tb bytes.Buffer
	if err := WriteCDRs(&tb, FormatTable, cdrs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tb.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "START (UTC)") || !strings.Contains(lines[0], "DURATION MS") ||
		!strings.Contains(lines[0], "KBIT/S") || !strings.Contains(lines[1], " 2026-11-25T20:00:00.000Z ") ||
		!strings.Contains(lines[1], " 700 ") || !strings.Contains(lines[1], " destination ") || !strings.Contains(lines[1], " 80 ") ||
		!strings.Contains(lines[1], " 1500/258000 ") || !strings.Contains(lines[1], " 1501/258172+") ||
		!strings.Contains(lines[2], "(no report)") || !strings.Contains(lines[3], "lower bound") {
		t.Fatalf("table:\n%s", tb.String())
	}
	if err := WriteCDRs(&tb, "xml", cdrs); err == nil {
		t.Fatal("format xml accepted")
	}
}

func TestRecordsOneRowPerSide(t *testing.T) {
	recs, err := ReadDir(context.Background(), writeLabStore(t))
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := WriteRecords(&js, FormatJSON, recs); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 3 || back[1]["role"] != "destination" ||
		back[0]["node"] != "ch" || back[0]["packets"] != 1500.0 || back[0]["octets"] != 258000.0 || back[1]["counters_lost"] != true ||
		back[0]["counters_known"] != true || back[2]["counters_known"] != false {
		t.Fatalf("json %s %v", js.String(), err)
	}
	var cs bytes.Buffer
	if err := WriteRecords(&cs, FormatCSV, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][1] != "77" || rows[1][18] != "16 normal" || rows[1][11] != "700" || rows[1][17] != "destination" {
		t.Fatalf("csv %v %v", rows, err)
	}
	if h := rows[0]; h[20] != "packets" || h[21] != "bytes" || h[22] != "counters_lost" {
		t.Fatalf("csv header %v", h)
	}
	for i, want := range [][]string{{"1500", "258000", "false"}, {"1501", "258172", "true"}, {"", "", ""}} {
		if got := rows[i+1][20:]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("csv row %d counters %q, want %q", i+1, got, want)
		}
	}
	var tb bytes.Buffer
	if err := WriteRecords(&tb, FormatTable, recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tb.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[1], "call-1") ||
		!strings.Contains(lines[0], "packets") || !strings.Contains(lines[0], "bytes") || !strings.Contains(lines[0], "duration_ms") ||
		!strings.Contains(lines[1], " 1500 ") || !strings.Contains(lines[1], " 258000 ") ||
		!strings.Contains(lines[2], " 1501+ ") || !strings.Contains(lines[2], " 258172+ ") ||
		!strings.Contains(lines[4], "lower bound") {
		t.Fatalf("table:\n%s", tb.String())
	}
	if _, err := ReadDir(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing directory accepted")
	}
}
