package usage

import (
	"context"
	"errors"
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
		Reporter: "pol1", ServiceClass: "EF", Bandwidth: 64000, Duration: 30, Unit: "s",
		StartTime: t0, AlertTime: t0.Add(time.Second), ConnectTime: t0.Add(2 * time.Second), EndTime: t0.Add(32 * time.Second),
		PostDialDelay: 1000, ReleaseSource: 1, TerminationCause: 16, TerminationText: "normal", ReceivedAt: t0.Add(33 * time.Second),
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
