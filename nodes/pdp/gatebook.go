package pdp

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"
)

// GateBookFileName is the gate book's file name inside the node directory.
const GateBookFileName = "gates.db"

// GateBook records the gates the router holds for this policy server, so
// that after a restart of the policy server (which forgets its calls) the
// gates it left behind are deleted instead of marking media forever. It
// uses SQLite in WAL mode with synchronous=NORMAL: durable across a crash
// of the process, which is the failure it is for, at a fraction of the
// cost of an fsync on the call setup path. A stale row is harmless: the
// router answers its Gate-Delete with Unknown-GateID.
type GateBook struct {
	db   *sql.DB
	path string
}

// OpenGateBook opens (creating if needed) the gate book at path.
func OpenGateBook(ctx context.Context, path string) (*GateBook, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("pdp: open gate book %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS gates (
		gate_id     INTEGER PRIMARY KEY,
		call_id     TEXT NOT NULL,
		recorded_at TEXT NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("pdp: create gate book %s: %w", path, err)
	}
	return &GateBook{db: db, path: path}, nil
}

// Close closes the database.
func (g *GateBook) Close() error {
	if err := g.db.Close(); err != nil {
		return fmt.Errorf("pdp: close gate book %s: %w", g.path, err)
	}
	return nil
}

// Put records that the router holds gate id (for call).
func (g *GateBook) Put(ctx context.Context, id uint32, call string) error {
	_, err := g.db.ExecContext(ctx, `INSERT INTO gates (gate_id, call_id, recorded_at) VALUES (?,?,?)
		ON CONFLICT (gate_id) DO UPDATE SET call_id = excluded.call_id, recorded_at = excluded.recorded_at`,
		int64(id), call, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("pdp: record gate %d: %w", id, err)
	}
	return nil
}

// Delete forgets gate id.
func (g *GateBook) Delete(ctx context.Context, id uint32) error {
	if _, err := g.db.ExecContext(ctx, `DELETE FROM gates WHERE gate_id = ?`, int64(id)); err != nil {
		return fmt.Errorf("pdp: forget gate %d: %w", id, err)
	}
	return nil
}

// List returns the recorded gate ids in ascending order.
func (g *GateBook) List(ctx context.Context) ([]uint32, error) {
	rows, err := g.db.QueryContext(ctx, `SELECT gate_id FROM gates ORDER BY gate_id`)
	if err != nil {
		return nil, fmt.Errorf("pdp: list gate book %s: %w", g.path, err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("pdp: list gate book %s: %w", g.path, err)
		}
		out = append(out, uint32(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pdp: list gate book %s: %w", g.path, err)
	}
	return out, nil
}
