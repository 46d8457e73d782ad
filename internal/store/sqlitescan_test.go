package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// openWithTenant opens a fresh SQLite database holding the tenant ten_a,
// created at the time it returns.
func openWithTenant(t *testing.T) (*DB, time.Time) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = db.Write(ctx, func(q *Q) error {
		return q.InsertTenant(ctx, &keyward.Tenant{ID: "ten_a", Domain: "a", Name: "A", CreatedAt: at})
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, at
}

// The scans of whole tables that read SQLite on a connection of their own
// give what the same scans through database/sql give.
func TestSQLiteScansMatchTheDriver(t *testing.T) {
	ctx := context.Background()
	db, at := openWithTenant(t)
	err := db.Write(ctx, func(q *Q) error {
		for _, id := range []string{"sto_1", "sto_2"} {
			if err := q.InsertStore(ctx, &keyward.Store{ID: id, TenantID: "ten_a", Code: id + "c", Name: id, Active: true, CreatedAt: at}); err != nil {
				return err
			}
		}
		for i := range 6 {
			k := &keyward.Key{ID: fmt.Sprintf("key_%d", i), TenantID: "ten_a", Name: fmt.Sprintf("Key %d ✓", i), Enabled: i%2 == 0,
				Permissions: keyward.Permissions{"orders": keyward.LevelRead}, Stores: keyward.StoreAccess{Access: keyward.StoresAll},
				RateLimit: i * 10, CreatedAt: at, UpdatedAt: at}
			if i%3 == 1 {
				k.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"sto_2", "sto_1"}}
				k.Permissions = keyward.Permissions{"customers": keyward.LevelWrite, "orders": keyward.LevelRead}
			}
			if i%2 == 1 {
				k.Methods = []string{"orders.list"}
			}
			if i%3 == 2 {
				exp := at.Add(time.Duration(i)*time.Hour + 123456789*time.Nanosecond)
				k.ExpiresAt = &exp
			}
			for slot := 1; slot <= 2; slot++ {
				s := keyward.KeySecret{ID: fmt.Sprintf("sec_%d_%d", i, slot), KeyID: k.ID, Slot: slot, Hint: "h",
					Digest: []byte(fmt.Sprintf("%032d", 10*i+slot)), CreatedAt: at}
				if slot == 2 && i%2 == 0 {
					exp := at.Add(time.Duration(i) * time.Minute)
					s.ExpiresAt = &exp
				}
				k.Secrets = append(k.Secrets, s)
			}
			if err := q.InsertKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Each scan's values are copied, as they may point into reused memory.
	scan := func(q *Q) (keys, secrets []string) {
		t.Helper()
		err := q.EachKey(ctx, func(k *keyward.Key) error {
			b, err := json.Marshal(k)
			keys = append(keys, string(b))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		err = q.EachKeySecret(ctx, func(s *keyward.KeySecret) error {
			exp := "never"
			if s.ExpiresAt != nil {
				exp = s.ExpiresAt.UTC().Format(time.RFC3339Nano)
			}
			secrets = append(secrets, fmt.Sprintf("%s %s %d %x %s", s.ID, s.KeyID, s.Slot, s.Digest, exp))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys, secrets
	}
	q := db.Read()
	if q.path == "" {
		t.Fatal("a SQLite read does not scan on a connection of its own")
	}
	rawKeys, rawSecrets := scan(q)
	q.path = ""
	keys, secrets := scan(q)
	if len(rawKeys) != 6 || len(rawSecrets) != 12 {
		t.Fatalf("%d keys and %d secrets, want 6 and 12", len(rawKeys), len(rawSecrets))
	}
	for i := range keys {
		if rawKeys[i] != keys[i] {
			t.Errorf("key %d:\n own connection %s\n database/sql   %s", i, rawKeys[i], keys[i])
		}
	}
	for i := range secrets {
		if rawSecrets[i] != secrets[i] {
			t.Errorf("secret %d:\n own connection %s\n database/sql   %s", i, rawSecrets[i], secrets[i])
		}
	}

	// A cancelled context stops a scan.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Read().EachKeySecret(cctx, func(*keyward.KeySecret) error { return nil }); err == nil {
		t.Error("a scan with a cancelled context succeeded")
	}
}

func TestParseSQLiteTime(t *testing.T) {
	want := time.Date(2027, 5, 19, 8, 9, 10, 500_000_000, time.UTC)
	for _, s := range []string{"2027-05-19 08:09:10.5+00:00", "2027-05-19T08:09:10.5+00:00", "2027-05-19 08:09:10.5", "2027-05-19T08:09:10.5Z", "2027-05-19 10:09:10.5+02:00"} {
		got, err := parseSQLiteTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := parseSQLiteTime("tomorrow"); err == nil {
		t.Error(`"tomorrow" was read as a time`)
	}
}

// A scan read ahead of its callback stops when the callback fails, and
// reads every key otherwise.
func TestEachKeyReadAheadStopsOnError(t *testing.T) {
	ctx := context.Background()
	db, at := openWithTenant(t)
	const n = 10*keyBatchSize + 7
	err := db.Write(ctx, func(q *Q) error {
		for i := range n {
			k := &keyward.Key{ID: fmt.Sprintf("key_%05d", i), TenantID: "ten_a", Name: fmt.Sprintf("k%05d", i),
				Permissions: keyward.Permissions{}, Stores: keyward.StoreAccess{Access: keyward.StoresAll}, CreatedAt: at, UpdatedAt: at}
			if err := q.InsertKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = db.Read().EachKey(ctx, func(k *keyward.Key) error {
		seen[k.ID+"/"+k.Name] = true
		return nil
	})
	if err != nil || len(seen) != n || !seen["key_00000/k00000"] || !seen[fmt.Sprintf("key_%05d/k%05d", n-1, n-1)] {
		t.Fatalf("read %d of %d keys: %v", len(seen), n, err)
	}
	stop := errors.New("stop")
	for _, after := range []int{1, keyBatchSize, 3*keyBatchSize + 1, n} {
		calls := 0
		err := db.Read().EachKey(ctx, func(*keyward.Key) error {
			if calls++; calls == after {
				return stop
			}
			return nil
		})
		if err != stop || calls != after {
			t.Errorf("failing at key %d: %v after %d calls", after, err, calls)
		}
	}
}
