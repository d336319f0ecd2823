// Package usage is the durable record of finished calls: one row per OSP
// UsageIndication, kept in SQLite (modernc.org/sqlite, pure Go) with WAL
// and synchronous=FULL, so a record confirmed to the sender survives a
// crash of the process right after the confirmation. A record is unique on
// (transaction id, role): a re-sent indication is accepted again but
// stored once.
//
// Each record also holds the packets and bytes (octets) the edge router
// marked for the call's gate, when known, and the duration in
// milliseconds (duration_ms; the duration column keeps whole seconds).
// Stores created before those columns existed are upgraded in place on
// Open (ALTER TABLE ADD COLUMN); their old rows read as counters unknown
// and their whole seconds as the milliseconds.
//
// The clearinghouse keeps its store at <node dir>/usage.db; a policy server
// running without a clearinghouse uses the same package and schema. Inspect
// with `sqlite3 usage.db 'select * from usage'` or `qoslab cdr`.
package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// FileName is the store's file name inside a node directory.
const FileName = "usage.db"

// Record is one usage indication as stored. Its JSON names are what
// `qoslab cdr --format json` prints.
type Record struct {
	TransactionID string `json:"transaction_id"`
	Role          string `json:"role"` // "source" or "destination"
	CallID        string `json:"call_id"`
	Source        string `json:"source"`
	Destination   string `json:"destination"`
	Reporter      string `json:"reporter"` // node that sent the indication (or recorded it, without a clearinghouse)
	ServiceClass  string `json:"service_class"`
	Bandwidth     int64  `json:"bandwidth"` // bit/s
	// DurationMs is the indication's Amount in milliseconds (OSP carries
	// it in decimal seconds with millisecond precision).
	DurationMs    int64     `json:"duration_ms"`
	Unit          string    `json:"unit"`
	StartTime     time.Time `json:"start_time"`
	AlertTime     time.Time `json:"alert_time"`
	ConnectTime   time.Time `json:"connect_time"`
	EndTime       time.Time `json:"end_time"`
	PostDialDelay int64     `json:"post_dial_delay"` // milliseconds
	// ReleaseSource says which end released the call: 0 not reported,
	// then osp.ReleaseSource's order: 1 source, 2 destination,
	// 3 internal, 4 external, 5 unknown.
	ReleaseSource    int       `json:"release_source"`
	TerminationCause int       `json:"termination_cause"`
	TerminationText  string    `json:"termination_text"`
	ReceivedAt       time.Time `json:"received_at"` // when the store recorded it
	// CountersKnown says Packets and Octets hold figures: what the edge
	// router marked for the call's gate. False when the report carried
	// none (or the row predates them); stored as NULL.
	CountersKnown bool  `json:"counters_known"`
	Packets       int64 `json:"packets"`
	Octets        int64 `json:"octets"` // bytes
	// CountersLost: the router lost its counters during the call (it
	// restarted), so Packets and Octets are a lower bound.
	CountersLost bool `json:"counters_lost"`
}

// Store is an open usage database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
}

// Durability is how hard a committed row holds (SQLite's synchronous).
type Durability string

// Durabilities.
const (
	// SurvivesPowerLoss: every commit is fsynced (synchronous=FULL). The
	// usage store needs it: a confirmed record must survive anything.
	SurvivesPowerLoss Durability = "FULL"
	// SurvivesCrash: a commit survives the process being killed, not the
	// machine losing power (WAL with synchronous=NORMAL: no fsync per
	// commit, ~1 ms less on this machine's disks).
	SurvivesCrash Durability = "NORMAL"
)

// OpenDB opens the SQLite database at path the way the store does: WAL,
// the given durability, a busy timeout so that several handles on one
// file wait instead of failing. The clearinghouse keeps its ledger of
// transactions in the usage file.
func OpenDB(path string, d Durability) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+string(d)+")")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(ON)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("usage: open %s: %w", path, err)
	}
	return db, nil
}

// Open opens (creating if needed) the store at path.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := OpenDB(path, SurvivesPowerLoss)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path returns the database file name.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("usage: close %s: %w", s.path, err)
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS usage (
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
CREATE INDEX IF NOT EXISTS usage_call ON usage (call_id);
`

// addedColumns are the columns added after the first schema, in order:
// migrate adds the ones a store lacks. packets and octets are NULL when
// unknown.
var addedColumns = []struct{ name, decl string }{
	{"packets", "INTEGER"},
	{"octets", "INTEGER"},
	{"counters_lost", "INTEGER NOT NULL DEFAULT 0"},
	// duration_ms holds the duration with its milliseconds; rows from
	// before it read their whole seconds (duration * 1000). The duration
	// column keeps the whole seconds for readers of older stores.
	{"duration_ms", "INTEGER"},
}

func (s *Store) migrate(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("usage: open %s: %w", s.path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("usage: open %s: journal mode is %q, want wal", s.path, mode)
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("usage: create schema in %s: %w", s.path, err)
	}
	have, err := s.columns(ctx)
	if err != nil {
		return err
	}
	for _, c := range addedColumns {
		if have[c.name] {
			continue
		}
		if _, err := s.db.ExecContext(ctx, "ALTER TABLE usage ADD COLUMN "+c.name+" "+c.decl); err != nil {
			// Another process opening the same file may have added it
			// first.
			if now, cerr := s.columns(ctx); cerr == nil && now[c.name] {
				continue
			}
			return fmt.Errorf("usage: add column %s in %s: %w", c.name, s.path, err)
		}
	}
	return nil
}

// columns returns the names of the usage table's columns.
func (s *Store) columns(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM pragma_table_info('usage')")
	if err != nil {
		return nil, fmt.Errorf("usage: read schema of %s: %w", s.path, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("usage: read schema of %s: %w", s.path, err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: read schema of %s: %w", s.path, err)
	}
	return have, nil
}

// ErrInvalid is wrapped when a record lacks its key.
var ErrInvalid = errors.New("usage: invalid record")

// Insert stores r unless a record with the same (TransactionID, Role) is
// already there. It reports whether a row was added; either way, once it
// returns nil the record is on disk. ReceivedAt is set when zero.
func (s *Store) Insert(ctx context.Context, r Record) (added bool, err error) {
	if r.TransactionID == "" || r.Role == "" {
		return false, fmt.Errorf("%w: transaction id %q, role %q", ErrInvalid, r.TransactionID, r.Role)
	}
	if r.CountersKnown && (r.Packets < 0 || r.Octets < 0) {
		return false, fmt.Errorf("%w: %s/%s: negative counters %d packets, %d bytes", ErrInvalid,
			r.TransactionID, r.Role, r.Packets, r.Octets)
	}
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = time.Now()
	}
	packets := sql.NullInt64{Int64: r.Packets, Valid: r.CountersKnown}
	octets := sql.NullInt64{Int64: r.Octets, Valid: r.CountersKnown}
	res, err := s.db.ExecContext(ctx, `INSERT INTO usage (
		transaction_id, role, call_id, source, destination, reporter, service_class, bandwidth_bps,
		duration, unit, start_time, alert_time, connect_time, end_time, post_dial_delay_ms,
		release_source, termination_cause, termination_text, received_at, packets, octets, counters_lost, duration_ms)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (transaction_id, role) DO NOTHING`,
		r.TransactionID, r.Role, r.CallID, r.Source, r.Destination, r.Reporter, r.ServiceClass, r.Bandwidth,
		wholeSeconds(r.DurationMs), r.Unit, fmtTime(r.StartTime), fmtTime(r.AlertTime), fmtTime(r.ConnectTime), fmtTime(r.EndTime),
		r.PostDialDelay, r.ReleaseSource, r.TerminationCause, r.TerminationText, fmtTime(r.ReceivedAt),
		packets, octets, r.CountersLost, r.DurationMs)
	if err != nil {
		return false, fmt.Errorf("usage: insert %s/%s: %w", r.TransactionID, r.Role, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("usage: insert %s/%s: %w", r.TransactionID, r.Role, err)
	}
	return n == 1, nil
}

// wholeSeconds rounds milliseconds to the whole seconds the duration
// column has always held.
func wholeSeconds(ms int64) int64 {
	return int64((time.Duration(ms) * time.Millisecond).Round(time.Second) / time.Second)
}

// List returns every record in insertion order.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	return s.query(ctx, "ORDER BY id", nil)
}

// Find returns the record of a transaction and role, if there is one.
func (s *Store) Find(ctx context.Context, transactionID, role string) (Record, bool, error) {
	recs, err := s.query(ctx, "WHERE transaction_id = ? AND role = ?", []any{transactionID, role})
	if err != nil || len(recs) == 0 {
		return Record{}, false, err
	}
	return recs[0], true, nil
}

// ByCall returns the records of one call.
func (s *Store) ByCall(ctx context.Context, callID string) ([]Record, error) {
	return s.query(ctx, "WHERE call_id = ? ORDER BY id", []any{callID})
}

func (s *Store) query(ctx context.Context, tail string, args []any) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT transaction_id, role, call_id, source, destination, reporter,
		service_class, bandwidth_bps, COALESCE(duration_ms, duration * 1000), unit, start_time, alert_time, connect_time, end_time,
		post_dial_delay_ms, release_source, termination_cause, termination_text, received_at,
		packets, octets, counters_lost
		FROM usage `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("usage: list %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var st, at, ct, et, rt string
		var packets, octets sql.NullInt64
		if err := rows.Scan(&r.TransactionID, &r.Role, &r.CallID, &r.Source, &r.Destination, &r.Reporter,
			&r.ServiceClass, &r.Bandwidth, &r.DurationMs, &r.Unit, &st, &at, &ct, &et,
			&r.PostDialDelay, &r.ReleaseSource, &r.TerminationCause, &r.TerminationText, &rt,
			&packets, &octets, &r.CountersLost); err != nil {
			return nil, fmt.Errorf("usage: list %s: %w", s.path, err)
		}
		if packets.Valid && octets.Valid {
			r.CountersKnown, r.Packets, r.Octets = true, packets.Int64, octets.Int64
		}
		for _, p := range []struct {
			s string
			t *time.Time
		}{{st, &r.StartTime}, {at, &r.AlertTime}, {ct, &r.ConnectTime}, {et, &r.EndTime}, {rt, &r.ReceivedAt}} {
			t, err := parseTime(p.s)
			if err != nil {
				return nil, fmt.Errorf("usage: list %s: record %s/%s: %w", s.path, r.TransactionID, r.Role, err)
			}
			*p.t = t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: list %s: %w", s.path, err)
	}
	return out, nil
}

// Times are stored as RFC 3339 text (readable with sqlite3); the zero time
// as "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// Snapshot writes a consistent copy of the store at src to dst, a new
// file, while the store may be in use by its node (SQLite's VACUUM INTO
// reads one transaction's view, WAL included). A lab's run directory goes
// with the lab; a snapshot keeps its records.
func Snapshot(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("usage: snapshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("usage: snapshot: %w", err)
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("usage: snapshot: %w", err)
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("usage: snapshot %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("usage: snapshot %s to %s: %w", src, dst, err)
	}
	return nil
}
