package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// HandoverSeal is what a one-time link keeps besides what its
// administrator sees: the hash of its code ("" when none is required) and
// its sealed secret ("" once opened, burned or expired).
type HandoverSeal struct {
	CodeHash string
	Sealed   string
}

const handoverCols = `id, tenant_id, kind, subject_id, code_hash IS NOT NULL, failed_codes, note, created_by,
	created_at, expires_at, opened_at, opened_from, burned_at`

func scanHandover(r interface{ Scan(...any) error }, extra ...any) (*keyward.Handover, error) {
	var h keyward.Handover
	var opened, burned sql.NullTime
	dest := append([]any{&h.ID, &h.TenantID, &h.Kind, &h.SubjectID, &h.CodeRequired, &h.FailedCodes, &h.Note, &h.CreatedBy,
		&h.CreatedAt, &h.ExpiresAt, &opened, &h.OpenedFrom, &burned}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	h.CreatedAt, h.ExpiresAt = h.CreatedAt.UTC(), h.ExpiresAt.UTC()
	h.OpenedAt, h.BurnedAt = timePtr(opened), timePtr(burned)
	return &h, nil
}

// InsertHandover stores a one-time link: h, the hash of its token, the
// hash of its code ("" for none) and its sealed secret.
func (q *Q) InsertHandover(ctx context.Context, h *keyward.Handover, tokenHash string, s HandoverSeal) error {
	var code any
	if s.CodeHash != "" {
		code = s.CodeHash
	}
	_, err := q.exec(ctx, `INSERT INTO handovers (id, tenant_id, kind, subject_id, token_hash, code_hash, secret_sealed, note,
		created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.ID, h.TenantID, h.Kind, h.SubjectID, tokenHash, code, s.Sealed, h.Note, h.CreatedBy, h.CreatedAt.UTC(), h.ExpiresAt.UTC())
	return err
}

// Handover finds a tenant's one-time link by id.
func (q *Q) Handover(ctx context.Context, tenantID, id string) (*keyward.Handover, error) {
	h, err := scanHandover(q.row(ctx, `SELECT `+handoverCols+` FROM handovers WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no one-time link %q in this tenant", id)
	}
	return h, normalise(err)
}

// HandoverByToken finds a one-time link of any tenant by the hash of its
// token, with what it keeps sealed; nil when none has it.
func (q *Q) HandoverByToken(ctx context.Context, tokenHash string) (*keyward.Handover, HandoverSeal, error) {
	var code, sealed sql.NullString
	h, err := scanHandover(q.row(ctx, `SELECT `+handoverCols+`, code_hash, secret_sealed FROM handovers WHERE token_hash = ?`, tokenHash),
		&code, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, HandoverSeal{}, nil
	}
	if err != nil {
		return nil, HandoverSeal{}, normalise(err)
	}
	return h, HandoverSeal{CodeHash: code.String, Sealed: sealed.String}, nil
}

// ListHandovers lists a tenant's one-time links of the given kinds,
// newest first, filtered by f with states judged at now.
func (q *Q) ListHandovers(ctx context.Context, tenantID string, kinds []string, f keyward.HandoverFilter, now time.Time) ([]*keyward.Handover, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + handoverCols + ` FROM handovers WHERE tenant_id = ? AND kind IN (?` + strings.Repeat(", ?", len(kinds)-1) + `)`)
	args := []any{tenantID}
	for _, k := range kinds {
		args = append(args, k)
	}
	if f.SubjectID != "" {
		b.WriteString(` AND subject_id = ?`)
		args = append(args, f.SubjectID)
	}
	switch f.State {
	case keyward.HandoverWaiting:
		b.WriteString(` AND opened_at IS NULL AND burned_at IS NULL AND expires_at > ?`)
		args = append(args, now.UTC())
	case keyward.HandoverOpened:
		b.WriteString(` AND opened_at IS NOT NULL`)
	case keyward.HandoverBurned:
		b.WriteString(` AND opened_at IS NULL AND burned_at IS NOT NULL`)
	case keyward.HandoverExpired:
		b.WriteString(` AND opened_at IS NULL AND burned_at IS NULL AND expires_at <= ?`)
		args = append(args, now.UTC())
	}
	b.WriteString(` ORDER BY created_at DESC, id DESC LIMIT ?`)
	args = append(args, f.Limit)
	rows, err := q.query(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Handover
	for rows.Next() {
		h, err := scanHandover(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, h)
	}
	return out, normalise(rows.Err())
}

// OpenHandover marks the link id opened at at from the address from and
// drops its sealed secret, if it is still waiting at at; it reports
// whether it did. Of several nodes opening one link at once, one does.
func (q *Q) OpenHandover(ctx context.Context, id string, at time.Time, from string) (bool, error) {
	return q.affected1(ctx, `UPDATE handovers SET opened_at = ?, opened_from = ?, secret_sealed = NULL
		WHERE id = ? AND opened_at IS NULL AND burned_at IS NULL AND secret_sealed IS NOT NULL AND expires_at > ?`,
		at.UTC(), from, id, at.UTC())
}

// FailHandoverCode counts a wrong code tried on the waiting link id and
// returns how many were tried in all; 0 when the link no longer waits.
func (q *Q) FailHandoverCode(ctx context.Context, id string) (int, error) {
	ok, err := q.affected1(ctx, `UPDATE handovers SET failed_codes = failed_codes + 1
		WHERE id = ? AND opened_at IS NULL AND burned_at IS NULL AND secret_sealed IS NOT NULL`, id)
	if err != nil || !ok {
		return 0, err
	}
	var n int
	err = q.row(ctx, `SELECT failed_codes FROM handovers WHERE id = ?`, id).Scan(&n)
	return n, normalise(err)
}

// BurnHandover marks the waiting link id burned at at and drops its
// sealed secret; it reports whether it did.
func (q *Q) BurnHandover(ctx context.Context, id string, at time.Time) (bool, error) {
	return q.affected1(ctx, `UPDATE handovers SET burned_at = ?, secret_sealed = NULL
		WHERE id = ? AND opened_at IS NULL AND burned_at IS NULL AND secret_sealed IS NOT NULL`, at.UTC(), id)
}

// ExpiredHandovers returns up to limit links that expired unopened before
// now and still keep their sealed secret.
func (q *Q) ExpiredHandovers(ctx context.Context, now time.Time, limit int) ([]*keyward.Handover, error) {
	rows, err := q.query(ctx, `SELECT `+handoverCols+` FROM handovers WHERE secret_sealed IS NOT NULL AND expires_at <= ?
		ORDER BY expires_at, id LIMIT ?`, now.UTC(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Handover
	for rows.Next() {
		h, err := scanHandover(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, h)
	}
	return out, normalise(rows.Err())
}

// ExpireHandover drops the sealed secret of the link id if it expired
// unopened before now; it reports whether it did.
func (q *Q) ExpireHandover(ctx context.Context, id string, now time.Time) (bool, error) {
	return q.affected1(ctx, `UPDATE handovers SET secret_sealed = NULL
		WHERE id = ? AND opened_at IS NULL AND secret_sealed IS NOT NULL AND expires_at <= ?`, id, now.UTC())
}

// affected1 runs an update and reports whether it changed exactly one row.
func (q *Q) affected1(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}
