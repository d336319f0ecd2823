package pdp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
)

func TestSpoolSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), SpoolFileName)
	s, err := OpenSpool(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := UsageRecord{ID: "pol1/originating/a/1", CallID: "a", Side: flow.Originating, Start: t0, Connect: at(1), End: at(11),
		Duration: 10 * time.Second, Counters: Counters{Packets: 500, Bytes: 86000}, TransactionID: "t1"}
	b := UsageRecord{ID: "pol1/originating/b/2", CallID: "b", Side: flow.Terminating}
	for _, r := range []UsageRecord{a, b, a} { // the second a is a retried write
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenSpool(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
		t.Fatalf("after reopen: %+v", got)
	}
	if g := got[0]; !g.Start.Equal(a.Start) || !g.End.Equal(a.End) || g.Packets != 500 || g.Bytes != 86000 || g.Duration != a.Duration || g.Side != flow.Originating {
		t.Fatalf("record changed in the spool: %+v", g)
	}
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Len(ctx); err != nil || n != 1 {
		t.Fatalf("len %d %v, want 1", n, err)
	}
}

func TestSpoolCorruptRow(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSpool(ctx, filepath.Join(t.TempDir(), SpoolFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.Exec(`INSERT INTO spool (id, call_id, record, spooled_at) VALUES ('x','x','{not json','')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, UsageRecord{ID: "good"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx)
	if err == nil {
		t.Fatal("corrupt row listed without error")
	}
	if len(got) != 1 || got[0].ID != "good" {
		t.Fatalf("a corrupt row hid the good one: %+v", got)
	}
}
