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
	for _, role := range []string{"source", "destination"} {
		if _, err := s.Insert(ctx, usage.Record{TransactionID: "77", Role: role, CallID: "call-1", Source: "sip:uac@a",
			Destination: "sip:uas@b", ServiceClass: "EF", Bandwidth: 64000, Duration: 30, Unit: "s", StartTime: t0,
			TerminationCause: 16, TerminationText: "normal"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	recs, err := labCDRs(ctx, labDir)
	if err != nil || len(recs) != 2 || recs[0].Node != "ch" {
		t.Fatalf("records %+v %v", recs, err)
	}
	var js bytes.Buffer
	if err := writeCDRs(&js, "json", recs); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 2 || back[1]["Role"] != "destination" {
		t.Fatalf("json %s %v", js.String(), err)
	}
	var cs bytes.Buffer
	if err := writeCDRs(&cs, "csv", recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][1] != "77" || rows[1][16] != "16 normal" {
		t.Fatalf("csv %v %v", rows, err)
	}
	var tb bytes.Buffer
	if err := writeCDRs(&tb, "table", recs); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(tb.String()), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "call-1") {
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
