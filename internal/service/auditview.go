package service

import (
	"context"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// AuditFilter selects audit log entries for people reading the log.
type AuditFilter struct {
	// Actor matches entries whose actor's name (an e-mail address,
	// "operator" or "system") contains it, ignoring case.
	Actor string
	// Object matches entries about an object whose id is Object or whose
	// name contains it, ignoring case.
	Object string
	// From and To bound the entries' times (To excluded); zero is open.
	From, To time.Time
	// Before is the cursor: entries older than this sequence number.
	Before int64
	Limit  int
}

// AuditRow is an audit entry with the name of its object: its current
// name, or the one the entry recorded when the object is gone.
type AuditRow struct {
	Entry      *keyward.AuditEntry
	ObjectName string
}

// auditScan bounds how many entries one search reads, so a filter
// matching little cannot read the whole log in one request; the answer's
// cursor then continues where the scan stopped.
const auditScan = 5000

// SearchAudit lists the caller's audit log, newest first, filtered by
// actor, object and time, with each object's name; it needs the Audit
// feature.
func (s *Service) SearchAudit(ctx context.Context, f AuditFilter) (*Page[AuditRow], error) {
	a, err := tenantActor(ctx, keyward.FeatureAudit)
	if err != nil {
		return nil, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, keyward.Invalid("to", "the end of the period must be after its start")
	}
	f.Limit = clampLimit(f.Limit)
	q := s.db.Read()
	names, err := s.auditNames(ctx, q, a)
	if err != nil {
		return nil, err
	}
	actor, object := strings.ToLower(strings.TrimSpace(f.Actor)), strings.ToLower(strings.TrimSpace(f.Object))
	out := &Page[AuditRow]{Data: []AuditRow{}}
	before, scanned := f.Before, 0
	for scanned < auditScan {
		batch, err := q.ListAudit(ctx, a.TenantID, before, 500)
		if err != nil {
			return nil, err
		}
		for _, e := range batch {
			scanned++
			before = e.Seq
			if !f.To.IsZero() && !e.At.Before(f.To) {
				continue
			}
			if !f.From.IsZero() && e.At.Before(f.From) {
				// Newest first: everything after this is older still.
				return out, nil
			}
			row := AuditRow{Entry: e, ObjectName: auditObjectName(e, names)}
			if actor != "" && !strings.Contains(strings.ToLower(e.Actor), actor) {
				continue
			}
			if object != "" && strings.ToLower(e.ObjectID) != object && !strings.Contains(strings.ToLower(row.ObjectName), object) {
				continue
			}
			out.Data = append(out.Data, row)
			if len(out.Data) == f.Limit {
				out.NextCursor = itoa(e.Seq)
				return out, nil
			}
		}
		if len(batch) < 500 {
			return out, nil
		}
	}
	out.NextCursor = itoa(before)
	return out, nil
}

// auditNames maps the ids of the tenant's objects to their names.
func (s *Service) auditNames(ctx context.Context, q *store.Q, a *keyward.Actor) (map[string]string, error) {
	names := map[string]string{}
	t, err := q.TenantByID(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	names[t.ID] = t.Name
	stores, err := q.ListStores(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	for _, st := range stores {
		names[st.ID] = st.Name
	}
	profiles, err := q.ListProfiles(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	for _, p := range profiles {
		names[p.ID] = p.Name
	}
	users, err := q.ListUsers(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		names[u.ID] = u.Email
	}
	merchants, err := q.ListMerchants(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	for _, m := range merchants {
		names[m.ID] = m.Name
		mus, err := q.ListMerchantUsers(ctx, a.TenantID, m.ID)
		if err != nil {
			return nil, err
		}
		for _, u := range mus {
			names[u.ID] = u.Email
		}
	}
	f := keyward.KeyFilter{Limit: 500}
	for {
		keys, err := q.ListKeys(ctx, a.TenantID, f)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			names[k.ID] = a.Domain + "-" + k.Name
		}
		if len(keys) < f.Limit {
			break
		}
		f.After = keys[len(keys)-1].ID
	}
	return names, nil
}

// auditObjectName names an entry's object: as it is called now, else as
// the entry recorded it, else "".
func auditObjectName(e *keyward.AuditEntry, names map[string]string) string {
	if n := names[e.ObjectID]; n != "" {
		return n
	}
	for _, field := range []string{"display_name", "name", "email", "code", "domain"} {
		if v, ok := e.Changes[field].(string); ok && v != "" {
			return v
		}
	}
	return ""
}
