package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
)

// InsertKey adds a key with its store selection and secrets.
func (q *Q) InsertKey(ctx context.Context, k *keyward.Key) error {
	perms, methods := encodeKeyJSON(k)
	ql, qp := quotaArgs(k.Quota)
	_, err := q.exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, name_fold, description, enabled, permissions, store_access, methods, rate_limit, expires_at, created_at, updated_at,
		allowed_addresses, quota_limit, quota_period)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, keyward.FoldName(k.Name), k.Description, k.Enabled, perms, k.Stores.Access, methods, k.RateLimit, nullTime(k.ExpiresAt), k.CreatedAt, k.UpdatedAt,
		encodeAddresses(k.AllowedAddresses), ql, qp)
	if IsUnique(err) {
		return nameTaken("key", k.Name, " in this tenant")
	}
	if err != nil {
		return err
	}
	if err := q.putKeyStores(ctx, k); err != nil {
		return err
	}
	for i := range k.Secrets {
		if err := q.InsertKeySecret(ctx, &k.Secrets[i]); err != nil {
			return err
		}
	}
	return nil
}

func encodeKeyJSON(k *keyward.Key) (perms string, methods any) {
	p, _ := json.Marshal(k.Permissions)
	if k.Methods != nil {
		m, _ := json.Marshal(k.Methods)
		methods = string(m)
	}
	return string(p), methods
}

func (q *Q) putKeyStores(ctx context.Context, k *keyward.Key) error {
	if _, err := q.exec(ctx, `DELETE FROM api_key_stores WHERE key_id = ?`, k.ID); err != nil {
		return err
	}
	for _, id := range k.Stores.IDs {
		if _, err := q.exec(ctx, `INSERT INTO api_key_stores (key_id, store_id) VALUES (?, ?)`, k.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// UpdateKey writes a key's settings and store selection (not its secrets).
func (q *Q) UpdateKey(ctx context.Context, k *keyward.Key) error {
	perms, methods := encodeKeyJSON(k)
	ql, qp := quotaArgs(k.Quota)
	_, err := q.exec(ctx, `UPDATE api_keys SET `+keepFold+`, name = ?, description = ?, enabled = ?, permissions = ?, store_access = ?, methods = ?,
		rate_limit = ?, expires_at = ?, updated_at = ?,
		allowed_addresses = ?, quota_limit = ?, quota_period = ? WHERE id = ?`,
		k.Name, keyward.FoldName(k.Name), k.Name, k.Description, k.Enabled, perms, k.Stores.Access, methods, k.RateLimit, nullTime(k.ExpiresAt), k.UpdatedAt,
		encodeAddresses(k.AllowedAddresses), ql, qp, k.ID)
	if IsUnique(err) {
		return nameTaken("key", k.Name, " in this tenant")
	}
	if err != nil {
		return err
	}
	return q.putKeyStores(ctx, k)
}

// keepFold sets name_fold from the arguments (name, fold): kept while the
// name stays as it is, so a record that differed from another only in
// case before names were compared that way can still be changed.
const keepFold = `name_fold = CASE WHEN name = ? THEN name_fold ELSE ? END`

// nameTaken answers a name whose fold another record of the tenant holds.
func nameTaken(kind, name, where string) error {
	return &keyward.Error{Code: keyward.EConflict, Field: "name",
		Message: "a " + kind + " named " + quote(name) + " already exists" + where + "; names are compared without regard to case"}
}

// DeleteKey removes a key and its secrets.
func (q *Q) DeleteKey(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	return err
}

// CountKeys counts a tenant's keys.
func (q *Q) CountKeys(ctx context.Context, tenantID string) (int, error) {
	var n int
	err := q.row(ctx, `SELECT COUNT(*) FROM api_keys WHERE tenant_id = ?`, tenantID).Scan(&n)
	return n, normalise(err)
}

// InsertKeySecret adds a secret to a key's slot.
func (q *Q) InsertKeySecret(ctx context.Context, s *keyward.KeySecret) error {
	_, err := q.exec(ctx, `INSERT INTO api_key_secrets (id, key_id, slot, hint, digest, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.KeyID, s.Slot, s.Hint, s.Digest, s.CreatedAt, nullTime(s.ExpiresAt))
	return err
}

// RetireKeySecrets ends the secrets of a key's slot that have no expiry
// yet: they are deleted when grace is nil, else they expire at *grace.
// Secrets of the slot already in a grace period are deleted either way.
func (q *Q) RetireKeySecrets(ctx context.Context, keyID string, slot int, grace *keyward.KeySecret) error {
	if _, err := q.exec(ctx, `DELETE FROM api_key_secrets WHERE key_id = ? AND slot = ? AND expires_at IS NOT NULL`, keyID, slot); err != nil {
		return err
	}
	if grace == nil {
		_, err := q.exec(ctx, `DELETE FROM api_key_secrets WHERE key_id = ? AND slot = ?`, keyID, slot)
		return err
	}
	_, err := q.exec(ctx, `UPDATE api_key_secrets SET expires_at = ? WHERE key_id = ? AND slot = ?`, nullTime(grace.ExpiresAt), keyID, slot)
	return err
}

const keyCols = `k.id, k.tenant_id, k.name, k.description, k.enabled, k.permissions, k.store_access, k.methods, k.rate_limit, k.expires_at, k.created_at, k.updated_at, k.version,
	k.allowed_addresses, k.quota_limit, k.quota_period`

func scanKey(s interface{ Scan(...any) error }) (*keyward.Key, error) {
	var k keyward.Key
	var perms string
	var methods, addrs sql.NullString
	var exp sql.NullTime
	var ql sql.NullInt64
	var qp sql.NullString
	if err := s.Scan(&k.ID, &k.TenantID, &k.Name, &k.Description, &k.Enabled, &perms, &k.Stores.Access, &methods, &k.RateLimit, &exp, &k.CreatedAt, &k.UpdatedAt, &k.Version,
		&addrs, &ql, &qp); err != nil {
		return nil, err
	}
	if err := decodeAddresses(addrs, &k.AllowedAddresses); err != nil {
		return nil, err
	}
	k.Quota = scanQuota(ql, qp)
	if err := json.Unmarshal([]byte(perms), &k.Permissions); err != nil {
		return nil, err
	}
	if methods.Valid {
		if err := json.Unmarshal([]byte(methods.String), &k.Methods); err != nil {
			return nil, err
		}
	}
	k.ExpiresAt = timePtr(exp)
	k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
	return &k, nil
}

// Key finds a tenant's key by id, with its stores and secrets.
func (q *Q) Key(ctx context.Context, tenantID, id string) (*keyward.Key, error) {
	k, err := scanKey(q.row(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.tenant_id = ? AND k.id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no API key %q in this tenant", id)
	}
	if err != nil {
		return nil, normalise(err)
	}
	if err := q.fillKeys(ctx, []*keyward.Key{k}); err != nil {
		return nil, err
	}
	return k, nil
}

// ListKeys lists a tenant's keys by id, filtered, after the cursor.
func (q *Q) ListKeys(ctx context.Context, tenantID string, f keyward.KeyFilter) ([]*keyward.Key, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + keyCols + ` FROM api_keys k WHERE k.tenant_id = ? AND k.id > ?`)
	args := []any{tenantID, f.After}
	if f.Enabled != nil {
		b.WriteString(` AND k.enabled = ?`)
		args = append(args, *f.Enabled)
	}
	if f.Access != "" {
		b.WriteString(` AND k.store_access = ?`)
		args = append(args, f.Access)
	}
	if f.StoreID != "" {
		b.WriteString(` AND (k.store_access = 'all' OR EXISTS (SELECT 1 FROM api_key_stores s WHERE s.key_id = k.id AND s.store_id = ?))`)
		args = append(args, f.StoreID)
	}
	b.WriteString(` ORDER BY k.id LIMIT ?`)
	args = append(args, f.Limit)
	rows, err := q.query(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	var out []*keyward.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, normalise(err)
	}
	return out, q.fillKeys(ctx, out)
}

// fillKeys loads the store ids and secrets of keys, two queries in all.
func (q *Q) fillKeys(ctx context.Context, keys []*keyward.Key) error {
	if len(keys) == 0 {
		return nil
	}
	byID := make(map[string]*keyward.Key, len(keys))
	ph := make([]string, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		byID[k.ID] = k
		k.Secrets = []keyward.KeySecret{}
		ph[i], args[i] = "?", k.ID
	}
	in := "(" + strings.Join(ph, ",") + ")"
	rows, err := q.query(ctx, `SELECT key_id, store_id FROM api_key_stores WHERE key_id IN `+in+` ORDER BY store_id`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kid, sid string
		if err := rows.Scan(&kid, &sid); err != nil {
			rows.Close()
			return err
		}
		byID[kid].Stores.IDs = append(byID[kid].Stores.IDs, sid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return normalise(err)
	}
	rows, err = q.query(ctx, `SELECT id, key_id, slot, hint, digest, created_at, expires_at, last_used_at, last_used_from FROM api_key_secrets
		WHERE key_id IN `+in+` ORDER BY slot, created_at DESC`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s keyward.KeySecret
		var exp, used sql.NullTime
		var from sql.NullString
		if err := rows.Scan(&s.ID, &s.KeyID, &s.Slot, &s.Hint, &s.Digest, &s.CreatedAt, &exp, &used, &from); err != nil {
			return err
		}
		s.LastUsedFrom = from.String
		s.CreatedAt = s.CreatedAt.UTC()
		s.ExpiresAt, s.LastUsedAt = timePtr(exp), timePtr(used)
		k := byID[s.KeyID]
		k.Secrets = append(k.Secrets, s)
	}
	return normalise(rows.Err())
}

// EachKey calls fn for every API key of every tenant, in storage order,
// with its store selection but without its secrets: the data plane loads
// its replica with it and EachKeySecret, and a scan in storage order is
// many times faster than one ordered by key. k is reused between calls,
// its strings may point into memory the next row reuses, and keys whose
// permissions are stored as equal text share one Permissions map: fn must
// neither keep k nor modify what it holds, and must copy what it keeps.
func (q *Q) EachKey(ctx context.Context, fn func(k *keyward.Key) error) error {
	d := keyScan{stores: map[string]int{}, ids: map[string]string{}, perms: map[string]keyward.Permissions{}, fn: fn}
	const storesQuery = `SELECT key_id, store_id FROM api_key_stores`
	const keysQuery = `SELECT id, tenant_id, name, enabled, permissions, store_access, methods, rate_limit, expires_at, allowed_addresses, quota_limit, quota_period FROM api_keys`
	if q.path != "" {
		err := sqliteRows(ctx, q.path, storesQuery, func(r *sqliteRow) error {
			d.addStore(r.text(0), r.text(1))
			return nil
		})
		if err != nil {
			return err
		}
		return d.readAhead(ctx, q.path, keysQuery)
	}
	rows, err := q.query(ctx, storesQuery)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kid, sid string
		if err := rows.Scan(&kid, &sid); err != nil {
			rows.Close()
			return err
		}
		d.addStore(kid, sid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return normalise(err)
	}
	rows, err = q.query(ctx, keysQuery)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		permText string
		methods  sql.NullString
		exp      sql.NullTime
		addrs    sql.NullString
		ql       sql.NullInt64
		qp       sql.NullString
	)
	for rows.Next() {
		d.k = keyward.Key{}
		k := &d.k
		if err := rows.Scan(&k.ID, &k.TenantID, &k.Name, &k.Enabled, &permText, &k.Stores.Access, &methods, &k.RateLimit, &exp, &addrs, &ql, &qp); err != nil {
			return err
		}
		if err := decodeAddresses(addrs, &k.AllowedAddresses); err != nil {
			return err
		}
		k.Quota = scanQuota(ql, qp)
		var m *string
		if methods.Valid {
			m = &methods.String
		}
		if exp.Valid {
			d.expiry = exp.Time
			k.ExpiresAt = &d.expiry
		}
		if err := d.complete(k, permText, m); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return normalise(rows.Err())
}

// keyScan is what EachKey keeps while it reads.
type keyScan struct {
	k      keyward.Key
	stores map[string]int // key id -> its store ids in lists
	lists  [][]string
	ids    map[string]string // store ids, each kept once
	perms  map[string]keyward.Permissions
	expiry time.Time
	fn     func(k *keyward.Key) error
}

// addStore records that key kid may use store sid. The strings may point
// into a row's memory: what is kept is copied.
func (d *keyScan) addStore(kid, sid string) {
	id, ok := d.ids[sid]
	if !ok {
		id = strings.Clone(sid)
		d.ids[id] = id
	}
	i, ok := d.stores[kid]
	if !ok {
		i = len(d.lists)
		d.stores[strings.Clone(kid)] = i
		d.lists = append(d.lists, nil)
	}
	d.lists[i] = append(d.lists[i], id)
}

// complete gives k its permissions, stores and methods.
func (d *keyScan) complete(k *keyward.Key, permText string, methods *string) error {
	p, ok := d.perms[permText]
	if !ok {
		if err := json.Unmarshal([]byte(permText), &p); err != nil {
			return err
		}
		d.perms[strings.Clone(permText)] = p
	}
	k.Permissions = p
	if i, ok := d.stores[k.ID]; ok {
		ids := d.lists[i]
		slices.Sort(ids)
		k.Stores.IDs = ids
	}
	if methods != nil {
		if err := json.Unmarshal([]byte(*methods), &k.Methods); err != nil {
			return err
		}
	}
	return nil
}

// keyBatch is keys read ahead of fn, with the text their strings point to.
type keyBatch struct {
	keys    []keyward.Key
	expires []time.Time // what the keys' ExpiresAt point to
	text    []byte
}

// keyBatchSize is the number of keys in a keyBatch.
const keyBatchSize = 256

// copy returns a copy of s in b's text, valid until b is reused.
func (b *keyBatch) copy(s string) string {
	if s == "" {
		return ""
	}
	start := len(b.text)
	// A text that grows leaves what it held to the strings made from it.
	b.text = append(b.text, s...)
	return unsafe.String(&b.text[start], len(s))
}

// readAhead reads the keys of query from the SQLite file at path on a
// goroutine of its own, a batch ahead of d.fn: reading and decoding a key
// and what fn does with it each take about half the time of a load, and
// this way they run side by side.
func (d *keyScan) readAhead(ctx context.Context, path, query string) error {
	const inFlight = 4
	free := make(chan *keyBatch, inFlight)
	full := make(chan *keyBatch, inFlight)
	for range inFlight {
		free <- &keyBatch{keys: make([]keyward.Key, 0, keyBatchSize), expires: make([]time.Time, keyBatchSize), text: make([]byte, 0, 32<<10)}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan error, 1)
	go func() {
		defer close(full)
		b := <-free
		err := sqliteRows(ctx, path, query, func(r *sqliteRow) error {
			b.keys = append(b.keys, keyward.Key{ID: b.copy(r.text(0)), TenantID: b.copy(r.text(1)), Name: b.copy(r.text(2)),
				Enabled: r.int64(3) != 0, Stores: keyward.StoreAccess{Access: b.copy(r.text(5))}, RateLimit: int(r.int64(7))})
			k := &b.keys[len(b.keys)-1]
			var methods *string
			if !r.null(6) {
				m := r.text(6)
				methods = &m
			}
			if !r.null(8) {
				t, err := parseSQLiteTime(r.text(8))
				if err != nil {
					return err
				}
				b.expires[len(b.keys)-1] = t
				k.ExpiresAt = &b.expires[len(b.keys)-1]
			}
			if !r.null(9) {
				if err := decodeAddresses(sql.NullString{String: r.text(9), Valid: true}, &k.AllowedAddresses); err != nil {
					return err
				}
			}
			if !r.null(10) {
				k.Quota = &keyward.Quota{Limit: r.int64(10), Period: strings.Clone(r.text(11))}
			}
			if err := d.complete(k, r.text(4), methods); err != nil {
				return err
			}
			if len(b.keys) < keyBatchSize {
				return nil
			}
			full <- b
			select {
			case b = <-free:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err == nil && len(b.keys) > 0 {
			full <- b
		}
		read <- err
	}()
	for b := range full {
		for i := range b.keys {
			if err := d.fn(&b.keys[i]); err != nil {
				cancel()
				for range full {
				}
				return err
			}
		}
		b.keys, b.text = b.keys[:0], b.text[:0]
		free <- b
	}
	return <-read
}

// EachKeySecret calls fn for every API key secret, in storage order. s is
// reused between calls, and its strings and Digest may point into memory
// the next row reuses: fn must copy what it keeps.
func (q *Q) EachKeySecret(ctx context.Context, fn func(s *keyward.KeySecret) error) error {
	const query = `SELECT id, key_id, slot, digest, expires_at FROM api_key_secrets`
	var (
		s      keyward.KeySecret
		expiry time.Time
	)
	if q.path != "" {
		return sqliteRows(ctx, q.path, query, func(r *sqliteRow) error {
			s = keyward.KeySecret{ID: r.text(0), KeyID: r.text(1), Slot: int(r.int64(2)), Digest: r.blob(3)}
			if !r.null(4) {
				t, err := parseSQLiteTime(r.text(4))
				if err != nil {
					return err
				}
				expiry = t
				s.ExpiresAt = &expiry
			}
			return fn(&s)
		})
	}
	rows, err := q.query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		digest sql.RawBytes
		exp    sql.NullTime
	)
	for rows.Next() {
		s = keyward.KeySecret{}
		if err := rows.Scan(&s.ID, &s.KeyID, &s.Slot, &digest, &exp); err != nil {
			return err
		}
		s.Digest = digest
		if exp.Valid {
			expiry = exp.Time
			s.ExpiresAt = &expiry
		}
		if err := fn(&s); err != nil {
			return err
		}
	}
	return normalise(rows.Err())
}

// KeyByID finds a key of any tenant, for the data plane; nil when gone.
func (q *Q) KeyByID(ctx context.Context, id string) (*keyward.Key, error) {
	k, err := scanKey(q.row(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, normalise(err)
	}
	return k, q.fillKeys(ctx, []*keyward.Key{k})
}

// ListAllTenants lists every tenant with its licence, for the data plane.
func (q *Q) ListAllTenants(ctx context.Context) ([]*keyward.Tenant, map[string]*keyward.Licence, error) {
	var ts []*keyward.Tenant
	after := ""
	for {
		page, err := q.ListTenants(ctx, after, 1000)
		if err != nil {
			return nil, nil, err
		}
		ts = append(ts, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Domain
	}
	ls := make(map[string]*keyward.Licence, len(ts))
	for _, t := range ts {
		l, err := q.Licence(ctx, t.ID)
		if err != nil {
			return nil, nil, err
		}
		ls[t.ID] = l
	}
	return ts, ls, nil
}

// encodeAddresses stores an address allowlist as a JSON array, NULL when
// empty (any address).
func encodeAddresses(addrs []string) any {
	if len(addrs) == 0 {
		return nil
	}
	b, _ := json.Marshal(addrs)
	return string(b)
}

// decodeAddresses reads what encodeAddresses stored.
func decodeAddresses(s sql.NullString, out *[]string) error {
	*out = nil
	if !s.Valid || s.String == "" {
		return nil
	}
	return json.Unmarshal([]byte(s.String), out)
}
