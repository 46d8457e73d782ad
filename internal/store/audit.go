package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/auditchain"
)

// InsertAudit appends an audit entry to its tenant's chain (see
// internal/auditchain): it locks the chain's head row, so entries of one
// chain are appended one at a time however many nodes write, links the
// entry to the head, and moves the head to it. It must run inside Write.
func (q *Q) InsertAudit(ctx context.Context, e *keyward.AuditEntry) error {
	changes := "{}"
	if len(e.Changes) > 0 {
		b, err := json.Marshal(e.Changes)
		if err != nil {
			return err
		}
		changes = string(b)
	}
	var tenant any
	if e.TenantID != "" {
		tenant = e.TenantID
	}
	e.At = e.At.UTC().Truncate(auditchain.Precision)
	_, prev, err := q.lockAuditHead(ctx, e.TenantID)
	if err != nil {
		return err
	}
	hash := auditchain.Hash(prev, auditchain.Fields{
		Chain: e.TenantID, Actor: e.Actor, ActorID: e.ActorID, Action: e.Action, ObjectType: e.ObjectType,
		ObjectID: e.ObjectID, Address: e.Address, Changes: changes, At: e.At,
	})
	err = q.row(ctx, `INSERT INTO audit (tenant_id, actor, actor_id, action, object_type, object_id, address, changes, at, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		tenant, e.Actor, e.ActorID, e.Action, e.ObjectType, e.ObjectID, e.Address, changes, e.At, prev, hash).Scan(&e.Seq)
	if err != nil {
		return normalise(err)
	}
	_, err = q.exec(ctx, `UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?`, e.Seq, hash, e.TenantID)
	return err
}

// lockAuditHead returns a chain's head, creating it when the chain is
// new, and holds its row locked until the transaction ends. SQLite's
// write transactions already run one at a time.
func (q *Q) lockAuditHead(ctx context.Context, chain string) (int64, string, error) {
	if _, err := q.exec(ctx, `INSERT INTO audit_heads (chain, seq, hash) VALUES (?, 0, '') ON CONFLICT (chain) DO NOTHING`, chain); err != nil {
		return 0, "", err
	}
	query := `SELECT seq, hash FROM audit_heads WHERE chain = ?`
	if q.engine == Postgres {
		query += ` FOR UPDATE`
	}
	var seq int64
	var hash string
	err := q.row(ctx, query, chain).Scan(&seq, &hash)
	return seq, hash, normalise(err)
}

// auditCols are an audit row's columns, chain first.
const auditCols = `seq, COALESCE(tenant_id, ''), actor, actor_id, action, object_type, object_id, address, changes, at, prev_hash, hash`

// AuditRow is a stored audit entry with its place in its chain.
type AuditRow struct {
	keyward.AuditEntry
	// ChangesText is the changes as stored, the text the hash covers.
	ChangesText string
	PrevHash    string
	Hash        string
}

// Fields returns the row's hashed fields.
func (r *AuditRow) Fields() auditchain.Fields {
	return auditchain.Fields{
		Chain: r.TenantID, Actor: r.Actor, ActorID: r.ActorID, Action: r.Action, ObjectType: r.ObjectType,
		ObjectID: r.ObjectID, Address: r.Address, Changes: r.ChangesText, At: r.At,
	}
}

func scanAuditRow(s interface{ Scan(...any) error }) (*AuditRow, error) {
	var r AuditRow
	if err := s.Scan(&r.Seq, &r.TenantID, &r.Actor, &r.ActorID, &r.Action, &r.ObjectType, &r.ObjectID, &r.Address,
		&r.ChangesText, &r.At, &r.PrevHash, &r.Hash); err != nil {
		return nil, normalise(err)
	}
	r.At = r.At.UTC()
	if err := json.Unmarshal([]byte(r.ChangesText), &r.Changes); err != nil {
		// An entry whose changes no longer parse was altered; it is still
		// shown and walked, and its hash says so.
		r.Changes = map[string]any{"unreadable": r.ChangesText}
	}
	return &r, nil
}

// chainWhere selects one chain's rows: a tenant's, or the operator's
// entries, which have no tenant.
const chainWhere = `(tenant_id = ? OR (? = '' AND tenant_id IS NULL))`

// ListAudit lists a tenant's audit entries newest first, before the given
// sequence number (0 = from the newest).
func (q *Q) ListAudit(ctx context.Context, tenantID string, before int64, limit int) ([]*keyward.AuditEntry, error) {
	query := `SELECT ` + auditCols + ` FROM audit WHERE tenant_id = ?`
	args := []any{tenantID}
	if before > 0 {
		query += ` AND seq < ?`
		args = append(args, before)
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.AuditEntry
	for rows.Next() {
		r, err := scanAuditRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, &r.AuditEntry)
	}
	return out, normalise(rows.Err())
}

// AuditFilter selects audit rows for EachAudit.
type AuditFilter struct {
	// Chain is the chain read, unless All is set.
	Chain string
	All   bool
	// From and To bound the rows' time to [From, To); a zero bound is open.
	From, To time.Time
}

// EachAudit calls fn with the audit rows f selects, in sequence order.
func (q *Q) EachAudit(ctx context.Context, f AuditFilter, fn func(*AuditRow) error) error {
	query := `SELECT ` + auditCols + ` FROM audit WHERE 1 = 1`
	var args []any
	if !f.All {
		query += ` AND ` + chainWhere
		args = append(args, f.Chain, f.Chain)
	}
	if !f.From.IsZero() {
		query += ` AND at >= ?`
		args = append(args, f.From.UTC())
	}
	if !f.To.IsZero() {
		query += ` AND at < ?`
		args = append(args, f.To.UTC())
	}
	rows, err := q.query(ctx, query+` ORDER BY seq`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAuditRow(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return normalise(rows.Err())
}

// AuditHead is a chain's last entry.
type AuditHead struct {
	Chain string
	Seq   int64
	Hash  string
}

// AuditHeads lists every chain's head, by chain.
func (q *Q) AuditHeads(ctx context.Context) ([]AuditHead, error) {
	rows, err := q.query(ctx, `SELECT chain, seq, hash FROM audit_heads ORDER BY chain`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditHead
	for rows.Next() {
		var h AuditHead
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, normalise(err)
		}
		out = append(out, h)
	}
	return out, normalise(rows.Err())
}

// AuditChains lists every chain the audit tables name: those with a head,
// entries, checkpoints or a legacy record, so a chain whose head (or
// whose entries) were removed is still walked.
func (q *Q) AuditChains(ctx context.Context) ([]string, error) {
	rows, err := q.query(ctx, `SELECT chain FROM audit_heads
		UNION SELECT COALESCE(tenant_id, '') FROM audit
		UNION SELECT chain FROM audit_checkpoints
		UNION SELECT chain FROM audit_legacy ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, normalise(err)
		}
		out = append(out, c)
	}
	return out, normalise(rows.Err())
}

// AuditLegacy returns what migration 00019 found of a chain's entries
// written before entries were hashed: the last of them and how many; 0
// and 0 for none. The first chained checkpoint signs it.
func (q *Q) AuditLegacy(ctx context.Context, chain string) (through, count int64, err error) {
	err = q.row(ctx, `SELECT through, count FROM audit_legacy WHERE chain = ?`, chain).Scan(&through, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return through, count, normalise(err)
}

// StoredCheckpoint is a checkpoint with its signature.
type StoredCheckpoint struct {
	auditchain.Checkpoint
	// Signature is sealed over the checkpoint's digest; "" when no master
	// key was set.
	Signature string
}

// InsertAuditCheckpoint stores a checkpoint.
func (q *Q) InsertAuditCheckpoint(ctx context.Context, c *StoredCheckpoint) error {
	var sig any
	if c.Signature != "" {
		sig = c.Signature
	}
	_, err := q.exec(ctx, `INSERT INTO audit_checkpoints (id, chain, number, prev_digest, seq, hash, trimmed_through, trimmed_hash, trimmed_count,
		legacy_through, legacy_count, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Chain, c.Number, c.PrevDigest, c.Seq, c.Hash, c.TrimmedThrough, c.TrimmedHash, c.TrimmedCount,
		c.LegacyThrough, c.LegacyCount, sig, c.CreatedAt.UTC().Truncate(auditchain.Precision))
	return err
}

// AuditCheckpoints lists a chain's checkpoints, oldest first.
func (q *Q) AuditCheckpoints(ctx context.Context, chain string) ([]*StoredCheckpoint, error) {
	rows, err := q.query(ctx, `SELECT id, chain, number, prev_digest, seq, hash, trimmed_through, trimmed_hash, trimmed_count,
		legacy_through, legacy_count, signature, created_at
		FROM audit_checkpoints WHERE chain = ? ORDER BY created_at, number, id`, chain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*StoredCheckpoint
	for rows.Next() {
		var c StoredCheckpoint
		var sig sql.NullString
		if err := rows.Scan(&c.ID, &c.Chain, &c.Number, &c.PrevDigest, &c.Seq, &c.Hash, &c.TrimmedThrough, &c.TrimmedHash, &c.TrimmedCount,
			&c.LegacyThrough, &c.LegacyCount, &sig, &c.CreatedAt); err != nil {
			return nil, normalise(err)
		}
		c.Signature, c.CreatedAt = sig.String, c.CreatedAt.UTC()
		out = append(out, &c)
	}
	return out, normalise(rows.Err())
}

// TrimAudit removes a chain's entries written before cutoff, from its
// start up to the last of them but no further than entry upTo, and returns the last removed (its seq and
// hash) and how many were removed; 0 when none were. The chain's head stays
// locked until the transaction ends.
func (q *Q) TrimAudit(ctx context.Context, chain string, cutoff time.Time, upTo int64) (through int64, hash string, n int64, err error) {
	if _, _, err := q.lockAuditHead(ctx, chain); err != nil {
		return 0, "", 0, err
	}
	var last sql.NullInt64
	if err := q.row(ctx, `SELECT MAX(seq) FROM audit WHERE `+chainWhere+` AND at < ? AND seq <= ?`, chain, chain, cutoff.UTC(), upTo).Scan(&last); err != nil {
		return 0, "", 0, normalise(err)
	}
	if !last.Valid {
		return 0, "", 0, nil
	}
	err = q.row(ctx, `SELECT hash FROM audit WHERE seq = ?`, last.Int64).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", 0, nil
	}
	if err != nil {
		return 0, "", 0, normalise(err)
	}
	res, err := q.exec(ctx, `DELETE FROM audit WHERE `+chainWhere+` AND seq <= ?`, chain, chain, last.Int64)
	if err != nil {
		return 0, "", 0, err
	}
	n, err = res.RowsAffected()
	return last.Int64, hash, n, normalise(err)
}
