package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/auditchain"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// An audit log kept since before entries were hashed, and checkpointed
// before checkpoints were chained, still verifies after the upgrade to
// chained checkpoints: the upgrade records the entries that hold no hash,
// the first chained checkpoint signs that record, and the checkpoints
// signed before still count. An entry without a hash written afterwards
// (as an older keyward still running against the database writes) does
// not verify, in a chain of its own either, even with a legacy record
// added for it.
func TestAuditUpgradeToChainedCheckpoints(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			url, dir := "", t.TempDir()
			if e == store.Postgres {
				url = storetest.NewSchemaURL(t)
			}
			at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
			legacy := `INSERT INTO audit (tenant_id, actor, actor_id, action, object_type, object_id, address, changes, at)
				VALUES (?, 'ana', '', 'store.create', 'store', 'sto_1', '', '{}', ?)`
			old, err := store.OpenAt(ctx, url, dir, 12)
			if err != nil {
				t.Fatal(err)
			}
			for _, chain := range []any{"ten_a", "ten_a", nil} {
				if err := old.Exec(ctx, legacy, chain, at); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()

			// Version 17 hashes entries and signs unchained checkpoints.
			kr, err := seal.ParseKeyring("k1:0707070707070707070707070707070707070707070707070707070707070707")
			if err != nil {
				t.Fatal(err)
			}
			old, err = store.OpenAt(ctx, url, dir, 17)
			if err != nil {
				t.Fatal(err)
			}
			err = old.Write(ctx, func(q *store.Q) error {
				return q.InsertAudit(ctx, &keyward.AuditEntry{TenantID: "ten_a", Actor: "ana", Action: "key.create", ObjectType: "key", ObjectID: "key_1", At: at})
			})
			if err != nil {
				t.Fatal(err)
			}
			var head int64
			var hash string
			if err := old.SQL().QueryRow(`SELECT seq, hash FROM audit_heads WHERE chain = 'ten_a'`).Scan(&head, &hash); err != nil {
				t.Fatal(err)
			}
			cp := auditchain.Checkpoint{ID: "ckp_old", Chain: "ten_a", Seq: head, Hash: hash, CreatedAt: at}
			sig := kr.Seal(cp.Digest(), seal.Place{TenantID: "ten_a", RecordID: cp.ID, Field: "audit_checkpoints.signature"})
			if err := old.Exec(ctx, `INSERT INTO audit_checkpoints (id, chain, seq, hash, trimmed_through, trimmed_hash, trimmed_count, signature, created_at)
				VALUES (?, ?, ?, ?, 0, '', 0, ?, ?)`, cp.ID, cp.Chain, cp.Seq, cp.Hash, string(sig), at); err != nil {
				t.Fatal(err)
			}
			old.Close()

			db, err := store.Open(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			svc := service.New(db, catalog.Builtin(), service.WithKeyring(kr),
				service.WithAuditWitness(&auditchain.FileWitness{Path: filepath.Join(dir, "audit-head.json")}))
			op := keyward.WithActor(ctx, &keyward.Actor{Kind: keyward.ActorOperator})
			verify := func() *service.AuditVerification {
				t.Helper()
				v, err := svc.VerifyAudit(op)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			problems := func(v *service.AuditVerification) string {
				var b strings.Builder
				for _, c := range v.Chains {
					for _, p := range c.Problems {
						b.WriteString(c.Chain + ": " + p.Message + "\n")
					}
				}
				return b.String()
			}
			v := verify()
			if !v.OK() {
				t.Fatalf("after the upgrade:\n%s", problems(v))
			}
			if _, err := svc.AuditMaintenance(op, 0); err != nil {
				t.Fatal(err)
			}
			v = verify()
			if !v.OK() || !v.Witnessed {
				t.Fatalf("after the first chained checkpoint (witnessed %v):\n%s", v.Witnessed, problems(v))
			}
			for _, c := range v.Chains {
				want := map[string]int{"ten_a": 2, "": 1}[c.Chain]
				if c.Legacy != want || c.Newest == nil || c.Newest.Number != 1 {
					t.Fatalf("chain %q: %d legacy entries (want %d), newest checkpoint %+v", c.Chain, c.Legacy, want, c.Newest)
				}
			}

			// An older keyward writes on: entries without a hash.
			for _, chain := range []string{"ten_a", "ten_b"} {
				if err := db.Exec(ctx, legacy, chain, at); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Exec(ctx, `INSERT INTO audit_legacy (chain, through, count) VALUES ('ten_b', 1000000, 1)`); err != nil {
				t.Fatal(err)
			}
			if err := db.Exec(ctx, `UPDATE audit_legacy SET through = 1000000 WHERE chain = 'ten_a'`); err != nil {
				t.Fatal(err)
			}
			v = verify()
			got := problems(v)
			for _, want := range []string{"ten_a: entry", "ten_b: entry", "holds no hash"} {
				if !strings.Contains(got, want) {
					t.Errorf("want %q in\n%s", want, got)
				}
			}
		})
	}
}
