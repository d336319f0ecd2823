package usage

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func sample(tx, role string) Record {
	t0 := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	return Record{
		TransactionID: tx, Role: role, CallID: "call-" + tx, Source: "sip:uac@a", Destination: "sip:uas@b",
		Reporter: "pol1", ServiceClass: "EF", Bandwidth: 64000, DurationMs: 30250, Unit: "s",
		StartTime: t0, AlertTime: t0.Add(time.Second), ConnectTime: t0.Add(2 * time.Second), EndTime: t0.Add(32 * time.Second),
		PostDialDelay: 1000, ReleaseSource: 1, TerminationCause: 16, TerminationText: "normal", ReceivedAt: t0.Add(33 * time.Second),
		CountersKnown: true, Packets: 1500, Octets: 258000,
	}
}

func TestInsertListIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		added, err := s.Insert(ctx, sample("1", "source"))
		if err != nil {
			t.Fatal(err)
		}
		if added != (i == 0) {
			t.Fatalf("insert %d: added=%v", i, added)
		}
	}
	if added, err := s.Insert(ctx, sample("1", "destination")); err != nil || !added {
		t.Fatalf("other role: %v %v", added, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: the records are on disk, and the key still holds.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if added, err := s.Insert(ctx, sample("1", "source")); err != nil || added {
		t.Fatalf("after reopen: %v %v", added, err)
	}
	recs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if recs[0] != sample("1", "source") {
		t.Errorf("record changed on the way:\n got %+v\nwant %+v", recs[0], sample("1", "source"))
	}
	byCall, err := s.ByCall(ctx, "call-1")
	if err != nil || len(byCall) != 2 {
		t.Fatalf("by call: %d %v", len(byCall), err)
	}
}

// TestCounters: the marked packets and bytes come back as stored; unknown
// counters stay unknown (NULL), not zero; zero is a figure; the lost flag
// travels; negative counts are refused.
func TestCounters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unknown := sample("2", "source")
	unknown.CountersKnown, unknown.Packets, unknown.Octets = false, 0, 0
	zero := sample("3", "source")
	zero.Packets, zero.Octets = 0, 0
	lost := sample("4", "destination")
	lost.CountersLost = true
	big := sample("5", "source")
	big.Packets, big.Octets = math.MaxInt64, math.MaxInt64
	want := []Record{sample("1", "source"), unknown, zero, lost, big}
	for _, r := range want {
		if _, err := s.Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM usage WHERE packets IS NULL AND octets IS NULL").Scan(&n); err != nil || n != 1 {
		t.Errorf("unknown counters stored as NULL: %d rows, %v", n, err)
	}
	neg := sample("6", "source")
	neg.Packets = -1
	if _, err := s.Insert(ctx, neg); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative counters: got %v", err)
	}
}

// oldSchema is the usage table as stores were created before the counter
// columns.
const oldSchema = `
CREATE TABLE usage (
	id                INTEGER PRIMARY KEY,
	transaction_id    TEXT    NOT NULL,
	role              TEXT    NOT NULL,
	call_id           TEXT    NOT NULL,
	source            TEXT    NOT NULL,
	destination       TEXT    NOT NULL,
	reporter          TEXT    NOT NULL,
	service_class     TEXT    NOT NULL,
	bandwidth_bps     INTEGER NOT NULL,
	duration          INTEGER NOT NULL,
	unit              TEXT    NOT NULL,
	start_time        TEXT    NOT NULL,
	alert_time        TEXT    NOT NULL,
	connect_time      TEXT    NOT NULL,
	end_time          TEXT    NOT NULL,
	post_dial_delay_ms INTEGER NOT NULL,
	release_source    INTEGER NOT NULL,
	termination_cause INTEGER NOT NULL,
	termination_text  TEXT    NOT NULL,
	received_at       TEXT    NOT NULL,
	UNIQUE (transaction_id, role)
);
CREATE INDEX usage_call ON usage (call_id);
INSERT INTO usage (transaction_id, role, call_id, source, destination, reporter, service_class, bandwidth_bps,
	duration, unit, start_time, alert_time, connect_time, end_time, post_dial_delay_ms, release_source,
	termination_cause, termination_text, received_at)
VALUES ('old', 'source', 'call-old', 'sip:uac@a', 'sip:uas@b', 'ch', 'EF', 64000, 12, 's',
	'2026-11-25T20:00:00Z', '', '2026-11-25T20:00:01Z', '2026-11-25T20:00:13Z', 0, 0, 16, 'released',
	'2026-11-25T20:00:14Z');
`

// TestMigratesOldStore: a store file written before the counter columns
// opens, gains them, keeps its rows (counters unknown), takes new records
// with counters, and keeps its key; opening it again changes nothing.
func TestMigratesOldStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for i := 0; i < 2; i++ {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			if _, err := s.Insert(ctx, sample("new", "source")); err != nil {
				t.Fatal(err)
			}
		}
		if added, err := s.Insert(ctx, Record{TransactionID: "old", Role: "source"}); err != nil || added {
			t.Fatalf("key lost in migration: %v %v", added, err)
		}
		recs, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 {
			t.Fatalf("%d records, want 2", len(recs))
		}
		old := recs[0]
		if old.TransactionID != "old" || old.DurationMs != 12000 || old.CountersKnown || old.Packets != 0 || old.CountersLost ||
			!old.EndTime.Equal(time.Date(2026, 11, 25, 20, 0, 13, 0, time.UTC)) {
			t.Errorf("old row after migration: %+v", old)
		}
		if recs[1] != sample("new", "source") {
			t.Errorf("new row:\n got %+v\nwant %+v", recs[1], sample("new", "source"))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentMigration: processes opening one old store at once (the
// clearinghouse starting while `qoslab cdr` reads) all succeed.
func TestConcurrentMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, path)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
}

func TestInsertRefusesKeylessRecord(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Insert(ctx, Record{Role: "source"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrentDuplicates(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.Insert(ctx, sample("9", "source"))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				added++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	recs, _ := s.List(ctx)
	if added != 1 || len(recs) != 1 {
		t.Fatalf("added %d, records %d; want 1, 1", added, len(recs))
	}
}

func BenchmarkInsert(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Insert(ctx, sample(strconv.Itoa(i), "source")); err != nil {
			b.Fatal(err)
		}
	}
}

// A snapshot taken while the store is open, with records still in its
// write-ahead log, holds every committed record and opens as a store.
func TestSnapshotOfOpenStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tx := range []string{"1", "2"} {
		if _, err := s.Insert(ctx, sample(tx, "source")); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(dir, "run", "nodes", "ch", FileName)
	if err := Snapshot(ctx, s.Path(), dst); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, sample("3", "source")); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recs, err := c.List(ctx)
	if err != nil || len(recs) != 2 || recs[1].TransactionID != "2" || recs[1].Packets != 1500 {
		t.Fatalf("snapshot holds %+v, %v; want the two records committed before it", recs, err)
	}
	if err := Snapshot(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("a snapshot of a missing store succeeded")
	}
}

// TestDurationMilliseconds: the duration keeps its milliseconds, and the
// whole-seconds column older readers use holds them rounded.
func TestDurationMilliseconds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := sample("ms", "source")
	r.DurationMs = 4321
	if _, err := s.Insert(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Find(ctx, "ms", "source")
	if err != nil || !ok || got.DurationMs != 4321 {
		t.Fatalf("found %+v %v %v", got, ok, err)
	}
	var seconds int64
	if err := s.db.QueryRowContext(ctx, "SELECT duration FROM usage WHERE transaction_id = 'ms'").Scan(&seconds); err != nil || seconds != 4 {
		t.Fatalf("duration column %d %v, want 4", seconds, err)
	}
	if _, ok, err := s.Find(ctx, "ms", "destination"); ok || err != nil {
		t.Fatalf("found a record that is not there: %v %v", ok, err)
	}
}
