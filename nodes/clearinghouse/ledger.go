package clearinghouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/qoslab/qoslab/nodes/usage"
)

// transaction is an authorisation the clearinghouse issued: the parties of
// the call it covers and the policy servers that may report its usage.
type transaction struct {
	ID          string
	CallID      string
	Source      string // SourceInfo of the request
	Destination string // DestinationInfo of the request
	// SourceNode is the policy server the transaction was issued to; it
	// alone reports the source side's usage.
	SourceNode string
	// DestinationNode is the policy server of the terminating side: the
	// one that presented the token (online validation, or an
	// AuthorisationRequest with the token), or, when the token was
	// validated locally as the OSP Toolkit does, the first policy server
	// that reported the destination side's usage. "" until then.
	DestinationNode string
	IssuedAt        time.Time
	ValidUntil      time.Time
}

// ledger keeps the issued transactions and the used tokens in the
// clearinghouse's SQLite store (the usage database file), so that a
// restart forgets neither: usage for a transaction issued before the
// restart is still accepted, and a token used before it is still refused.
// Its commits survive the process being killed (SQLite WAL) but are not
// fsynced one by one: an fsync per authorisation would double its cost,
// and a machine that loses power loses its lab anyway.
type ledger struct {
	db  *sql.DB
	now func() time.Time
	// keep is how long a transaction stays after its token expires: the
	// call it authorised may last max_duration past that, and the usage
	// may be spooled for a while after.
	keep time.Duration
}

const ledgerSchema = `
CREATE TABLE IF NOT EXISTS transactions (
	transaction_id   TEXT PRIMARY KEY,
	call_id          TEXT NOT NULL,
	source           TEXT NOT NULL,
	destination      TEXT NOT NULL,
	source_node      TEXT NOT NULL,
	destination_node TEXT NOT NULL DEFAULT '',
	issued_at        TEXT NOT NULL,
	valid_until      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS used_tokens (
	token       TEXT PRIMARY KEY,
	valid_until TEXT NOT NULL
);
`

// openLedger opens the ledger tables in the database at path (creating
// them if needed) and drops what has expired.
func openLedger(ctx context.Context, path string, keep time.Duration) (*ledger, error) {
	db, err := usage.OpenDB(path, usage.SurvivesCrash)
	if err != nil {
		return nil, fmt.Errorf("clearinghouse: ledger: %w", err)
	}
	l := &ledger{db: db, now: time.Now, keep: keep}
	if _, err := db.ExecContext(ctx, ledgerSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("clearinghouse: ledger schema in %s: %w", path, err)
	}
	if err := l.prune(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func (l *ledger) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("clearinghouse: ledger: %w", err)
	}
	return nil
}

// prune drops used tokens past their validity (the window check refuses
// them anyway) and transactions past keep.
func (l *ledger) prune(ctx context.Context) error {
	now := l.now()
	if _, err := l.db.ExecContext(ctx, `DELETE FROM used_tokens WHERE valid_until < ?`, ts(now)); err != nil {
		return fmt.Errorf("clearinghouse: ledger prune: %w", err)
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM transactions WHERE valid_until < ?`, ts(now.Add(-l.keep))); err != nil {
		return fmt.Errorf("clearinghouse: ledger prune: %w", err)
	}
	return nil
}

// issue records a new transaction. It is durable when issue returns.
func (l *ledger) issue(ctx context.Context, t transaction) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO transactions (transaction_id, call_id, source, destination,
		source_node, destination_node, issued_at, valid_until) VALUES (?,?,?,?,?,?,?,?)`,
		t.ID, t.CallID, t.Source, t.Destination, t.SourceNode, t.DestinationNode, ts(t.IssuedAt), ts(t.ValidUntil))
	if err != nil {
		return fmt.Errorf("clearinghouse: ledger: issue %s: %w", t.ID, err)
	}
	return nil
}

// get returns the transaction with id, if the clearinghouse issued it.
func (l *ledger) get(ctx context.Context, id string) (transaction, bool, error) {
	var t transaction
	var issued, until string
	err := l.db.QueryRowContext(ctx, `SELECT transaction_id, call_id, source, destination, source_node,
		destination_node, issued_at, valid_until FROM transactions WHERE transaction_id = ?`, id).
		Scan(&t.ID, &t.CallID, &t.Source, &t.Destination, &t.SourceNode, &t.DestinationNode, &issued, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return transaction{}, false, nil
	}
	if err != nil {
		return transaction{}, false, fmt.Errorf("clearinghouse: ledger: transaction %s: %w", id, err)
	}
	if t.IssuedAt, err = time.Parse(tsLayout, issued); err != nil {
		return transaction{}, false, fmt.Errorf("clearinghouse: ledger: transaction %s: %w", id, err)
	}
	if t.ValidUntil, err = time.Parse(tsLayout, until); err != nil {
		return transaction{}, false, fmt.Errorf("clearinghouse: ledger: transaction %s: %w", id, err)
	}
	return t, true, nil
}

// claimDestination makes node the transaction's terminating policy server
// unless another one already is; it returns the one that is.
func (l *ledger) claimDestination(ctx context.Context, id, node string) (string, error) {
	if _, err := l.db.ExecContext(ctx, `UPDATE transactions SET destination_node = ?
		WHERE transaction_id = ? AND destination_node = ''`, node, id); err != nil {
		return "", fmt.Errorf("clearinghouse: ledger: claim %s: %w", id, err)
	}
	var owner string
	if err := l.db.QueryRowContext(ctx, `SELECT destination_node FROM transactions WHERE transaction_id = ?`, id).
		Scan(&owner); err != nil {
		return "", fmt.Errorf("clearinghouse: ledger: claim %s: %w", id, err)
	}
	return owner, nil
}

// Use implements osp.ReplayStore: a token key is fresh once.
func (l *ledger) Use(key string, until time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := l.db.ExecContext(ctx, `INSERT INTO used_tokens (token, valid_until) VALUES (?, ?)
		ON CONFLICT (token) DO NOTHING`, key, ts(until))
	if err != nil {
		return false, fmt.Errorf("clearinghouse: ledger: token %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("clearinghouse: ledger: token %s: %w", key, err)
	}
	return n == 1, nil
}

// tsLayout is RFC 3339 in UTC with a fixed nine-digit fraction, so that
// the text sorts like the time (the prune queries compare it as text).
const tsLayout = "2006-01-02T15:04:05.000000000Z"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }
