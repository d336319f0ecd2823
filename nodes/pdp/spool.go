package pdp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SpoolFileName is the spool's file name inside the node directory.
const SpoolFileName = "spool.db"

// Spool is the durable queue of usage records not yet confirmed by the
// clearinghouse (or the local usage store). A record is written here before
// the DEC that ends its call is sent and deleted only once confirmed, so a
// clearinghouse that is down, or a policy server that crashes, loses
// nothing: the next run resumes from List. SQLite with WAL and
// synchronous=FULL makes a Put durable when it returns. It is safe for
// concurrent use.
type Spool struct {
	db   *sql.DB
	path string
}

const spoolSchema = `
CREATE TABLE IF NOT EXISTS spool (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	call_id    TEXT    NOT NULL,
	record     TEXT    NOT NULL,
	spooled_at TEXT    NOT NULL
);
`

// OpenSpool opens (creating if needed) the spool database at path.
func OpenSpool(ctx context.Context, path string) (*Spool, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("pdp: open spool %s: %w", path, err)
	}
	// One connection: writers queue in database/sql instead of meeting
	// SQLITE_BUSY and sleeping in the busy handler.
	db.SetMaxOpenConns(1)
	s := &Spool{db: db, path: path}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("pdp: open spool %s: %w", path, err)
	}
	if mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("pdp: open spool %s: journal mode is %q, want wal", path, mode)
	}
	if _, err := db.ExecContext(ctx, spoolSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("pdp: create spool schema in %s: %w", path, err)
	}
	return s, nil
}

// Path returns the spool's file name.
func (s *Spool) Path() string { return s.path }

// Close closes the database.
func (s *Spool) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pdp: close spool %s: %w", s.path, err)
	}
	return nil
}

// Put stores r durably. Putting a record whose ID is already spooled is a
// no-op, so a retried write never duplicates a call.
func (s *Spool) Put(ctx context.Context, r UsageRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("pdp: spool %s: %w", r.ID, err)
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO spool (id, call_id, record, spooled_at) VALUES (?,?,?,?) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.CallID, string(b), time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("pdp: spool %s: %w", r.ID, err)
	}
	return nil
}

// Delete removes a confirmed record; deleting an absent one is a no-op.
func (s *Spool) Delete(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM spool WHERE id = ?`, id); err != nil {
		return fmt.Errorf("pdp: unspool %s: %w", id, err)
	}
	return nil
}

// List returns the spooled records, oldest first. Rows that cannot be
// decoded are reported in the error but do not hide the others.
func (s *Spool) List(ctx context.Context) ([]UsageRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, record FROM spool ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("pdp: list spool %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []UsageRecord
	var corrupt []error
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			return nil, fmt.Errorf("pdp: list spool %s: %w", s.path, err)
		}
		var r UsageRecord
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			// A row we cannot read stays in the spool for a person to
			// look at; it must not block the others.
			corrupt = append(corrupt, fmt.Errorf("pdp: spool %s: record %s is corrupt: %w", s.path, id, err))
			continue
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pdp: list spool %s: %w", s.path, err)
	}
	return out, errors.Join(corrupt...)
}

// Len returns the number of spooled records.
func (s *Spool) Len(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM spool`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pdp: count spool %s: %w", s.path, err)
	}
	return n, nil
}
