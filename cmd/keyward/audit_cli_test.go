package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auditchain"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// cliRun runs one command line and returns its output and error.
func cliRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out, &out)
	return out.String(), err
}

// openArgs opens the database named by dbArgs flags, for editing it behind
// keyward's back.
func openArgs(t *testing.T, args []string) *store.DB {
	t.Helper()
	var dir, url string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--data":
			dir = args[i+1]
		case "--database":
			url = args[i+1]
		}
	}
	db, err := store.Open(context.Background(), url, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// chainSeqs returns the sequence numbers of a tenant's audit entries.
func chainSeqs(t *testing.T, db *store.DB, domain string) []int64 {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT a.seq FROM audit a JOIN tenants t ON t.id = a.tenant_id WHERE t.domain = `+placeholder(db, 1)+` ORDER BY a.seq`, domain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		rows.Scan(&s)
		out = append(out, s)
	}
	if len(out) < 4 {
		t.Fatalf("%s has only %d audit entries", domain, len(out))
	}
	return out
}

func placeholder(db *store.DB, n int) string {
	if db.Engine() == store.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func sqlExec(t *testing.T, db *store.DB, query string, args ...any) {
	t.Helper()
	if db.Engine() == store.Postgres {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := db.SQL().Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// Rows of the audit log edited, deleted, swapped or cut off in the
// database are each found and named by "keyward audit verify", which
// fails; a checkpoint signed with the master key pins the head, so
// cutting entries off the end and moving the head back is found too, and a
// forged checkpoint does not verify.
func TestAuditVerifyNamesEachTampering(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
			args := dbArgs(t, e)
			with := func(cmd ...string) []string { return append(cmd, args...) }
			domains := []string{"edited", "deleted", "swapped", "cut", "rewound", "clean"}
			for _, d := range domains {
				if out, err := cliRun(t, with("tenant", "create", "--domain", d)...); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				for i := range 4 {
					if out, err := cliRun(t, with("store", "create", "--tenant", d, "--code", fmt.Sprintf("s%d", i))...); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
				}
			}
			out, err := cliRun(t, with("audit", "verify")...)
			if err != nil || !strings.Contains(out, "ok: every chain verifies") {
				t.Fatalf("an untouched log: %v\n%s", err, out)
			}
			if out, err := cliRun(t, with("audit", "checkpoint")...); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			// More entries after the checkpoint.
			for _, d := range domains {
				if out, err := cliRun(t, with("store", "create", "--tenant", d, "--code", "late")...); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}

			db := openArgs(t, args)
			edited := chainSeqs(t, db, "edited")
			sqlExec(t, db, `UPDATE audit SET object_id = 'forged' WHERE seq = ?`, edited[1])
			deleted := chainSeqs(t, db, "deleted")
			sqlExec(t, db, `DELETE FROM audit WHERE seq = ?`, deleted[2])
			swapped := chainSeqs(t, db, "swapped")
			a, b := swapped[1], swapped[2]
			// Swap every column but the sequence number.
			cols := "actor, actor_id, action, object_type, object_id, address, changes, at, prev_hash, hash"
			sqlExec(t, db, fmt.Sprintf(`CREATE TABLE swap AS SELECT seq, %s FROM audit WHERE seq IN (%d, %d)`, cols, a, b))
			for _, pair := range [][2]int64{{a, b}, {b, a}} {
				set := []string{}
				for _, c := range strings.Split(cols, ", ") {
					set = append(set, c+" = (SELECT "+c+" FROM swap WHERE seq = ?)")
				}
				q := `UPDATE audit SET ` + strings.Join(set, ", ") + ` WHERE seq = ?`
				params := []any{}
				for range set {
					params = append(params, pair[1])
				}
				sqlExec(t, db, q, append(params, pair[0])...)
			}
			cut := chainSeqs(t, db, "cut")
			sqlExec(t, db, `DELETE FROM audit WHERE seq = ?`, cut[len(cut)-1])
			// Cut entries off the end, back past the checkpoint, and move
			// the head back as if they had never been.
			rewound := chainSeqs(t, db, "rewound")
			last := rewound[len(rewound)-3]
			sqlExec(t, db, `DELETE FROM audit WHERE seq > ? AND tenant_id = (SELECT id FROM tenants WHERE domain = 'rewound')`, last)
			sqlExec(t, db, `UPDATE audit_heads SET seq = ?, hash = (SELECT hash FROM audit WHERE seq = ?)
				WHERE chain = (SELECT id FROM tenants WHERE domain = 'rewound')`, last, last)

			out, err = cliRun(t, with("audit", "verify")...)
			if err == nil {
				t.Fatalf("a tampered log verifies:\n%s", out)
			}
			for _, want := range []string{
				"tenant edited: BROKEN",
				fmt.Sprintf("entry %d was changed after it was written", edited[1]),
				"tenant deleted: BROKEN",
				fmt.Sprintf("the entry before entry %d is missing", deleted[3]),
				"tenant swapped: BROKEN",
				fmt.Sprintf("entry %d is out of order", a),
				"tenant cut: BROKEN",
				fmt.Sprintf("the chain ends at entry %d but its head is entry %d", cut[len(cut)-2], cut[len(cut)-1]),
				"tenant rewound: BROKEN",
				"which is missing",
				"tenant clean: 6 entries verify",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("want %q in\n%s", want, out)
				}
			}

			// A checkpoint edited in the database no longer carries a valid signature.
			sqlExec(t, db, `UPDATE audit_checkpoints SET seq = seq - 1 WHERE chain = (SELECT id FROM tenants WHERE domain = 'clean')`)
			out, _ = cliRun(t, with("audit", "verify", "--tenant", "clean")...)
			if !strings.Contains(out, "does not carry a valid signature") {
				t.Fatalf("a forged checkpoint:\n%s", out)
			}
		})
	}
}

// "keyward audit export" writes the entries of a range as JSON lines, with
// their hashes, for a SIEM; --tenant keeps one tenant's.
func TestAuditExportWritesJSONLines(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			with := func(cmd ...string) []string { return append(cmd, args...) }
			for _, d := range []string{"one", "two"} {
				if out, err := cliRun(t, with("tenant", "create", "--domain", d)...); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if out, err := cliRun(t, with("store", "create", "--tenant", d, "--code", "main")...); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}
			file := filepath.Join(t.TempDir(), "audit.jsonl")
			out, err := cliRun(t, with("audit", "export", "--tenant", "two", "--from", "2000-01-01", "--out", file)...)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			n := 0
			prev := ""
			for sc.Scan() {
				var r map[string]any
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("line %d: %v", n+1, err)
				}
				if r["hash"] == "" || r["prev_hash"] != prev {
					t.Fatalf("line %d does not link to the one before: %v", n+1, r)
				}
				prev, _ = r["hash"].(string)
				n++
			}
			if n < 1 || !strings.Contains(out, fmt.Sprintf("%d entries written", n)) {
				t.Fatalf("%d lines; %s", n, out)
			}
			out, _ = cliRun(t, with("audit", "export", "--tenant", "two", "--from", "2999-01-01")...)
			if strings.TrimSpace(out) != "" {
				t.Fatalf("a range in the future exported %q", out)
			}
			if _, err := cliRun(t, with("audit", "export", "--from", "yesterday")...); err == nil {
				t.Fatal("a malformed --from was accepted")
			}
		})
	}
}

// The operator turns off the second factor of a tenant's last
// administrator from the command line, and only of the last one; an
// administrator's reset of another user works the same way.
func TestCLIResetsASecondFactor(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			with := func(cmd ...string) []string { return append(cmd, args...) }
			for _, c := range [][]string{
				{"tenant", "create", "--domain", "shop"},
				{"tenant", "admin", "--tenant", "shop", "--email", "owner@shop.test"},
				{"profile", "create", "--tenant", "shop", "--name", "Clerk", "--features", "audit"},
				{"user", "create", "--tenant", "shop", "--email", "clerk@shop.test", "--profile", "Clerk"},
			} {
				if out, err := cliRun(t, with(c...)...); err != nil {
					t.Fatalf("%v: %v\n%s", c, err, out)
				}
			}
			db := openArgs(t, args)
			// Two-factor sign-in on for both (the value is what matters here,
			// not that it opens).
			sqlExec(t, db, `UPDATE users SET totp_sealed = 'ks1.x' WHERE email IN ('owner@shop.test', 'clerk@shop.test')`)
			totpOn := func(email string) bool {
				var v *string
				q := `SELECT totp_sealed FROM users WHERE email = ` + placeholder(db, 1)
				if err := db.SQL().QueryRow(q, email).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v != nil
			}
			if out, err := cliRun(t, with("tenant", "reset-admin-totp", "--tenant", "shop", "--email", "clerk@shop.test")...); err == nil || totpOn("clerk@shop.test") == false {
				t.Fatalf("the operator reset a user who is no administrator: %s", out)
			}
			out, err := cliRun(t, with("tenant", "reset-admin-totp", "--tenant", "shop", "--email", "owner@shop.test")...)
			if err != nil || totpOn("owner@shop.test") || !strings.Contains(out, "last administrator") {
				t.Fatalf("the last administrator: %v\n%s", err, out)
			}
			out, err = cliRun(t, with("user", "reset-totp", "--tenant", "shop", "--email", "clerk@shop.test")...)
			if err != nil || totpOn("clerk@shop.test") {
				t.Fatalf("user reset-totp: %v\n%s", err, out)
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'user.totp_reset'`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("%d resets audited, %v", n, err)
			}
			// With a second administrator, the operator leaves it to them.
			sqlExec(t, db, `UPDATE users SET totp_sealed = 'ks1.x' WHERE email = 'owner@shop.test'`)
			if out, err := cliRun(t, with("tenant", "admin", "--tenant", "shop", "--email", "deputy@shop.test")...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			out, err = cliRun(t, with("tenant", "reset-admin-totp", "--tenant", "shop", "--email", "owner@shop.test")...)
			if err == nil || !strings.Contains(out+err.Error(), "deputy@shop.test") || !totpOn("owner@shop.test") {
				t.Fatalf("with another administrator: %v\n%s", err, out)
			}
		})
	}
}

// cliMust returns a function that runs a command line on the database of
// args, failing the test when it fails, and returns its output.
func cliMust(t *testing.T, args []string) func(cmd ...string) string {
	return func(cmd ...string) string {
		t.Helper()
		out, err := cliRun(t, append(cmd, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
		return out
	}
}

// tenantID returns the id of the tenant with the domain.
func tenantID(t *testing.T, db *store.DB, domain string) string {
	t.Helper()
	var id string
	if err := db.SQL().QueryRow(`SELECT id FROM tenants WHERE domain = `+placeholder(db, 1), domain).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// chainRows returns a chain's stored audit rows.
func chainRows(t *testing.T, db *store.DB, chain string) []*store.AuditRow {
	t.Helper()
	var out []*store.AuditRow
	err := db.Read().EachAudit(context.Background(), store.AuditFilter{Chain: chain}, func(r *store.AuditRow) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rehash recomputes the hashes of a chain's rows from index from on, as
// someone who can write the database (but holds no master key) would
// after editing one, and moves the head to the last.
func rehash(t *testing.T, db *store.DB, chain string, from int) {
	t.Helper()
	rows := chainRows(t, db, chain)
	prev := rows[from].PrevHash
	for _, r := range rows[from:] {
		h := auditchain.Hash(prev, r.Fields())
		sqlExec(t, db, `UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?`, prev, h, r.Seq)
		prev = h
	}
	sqlExec(t, db, `UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?`, rows[len(rows)-1].Seq, prev, chain)
}

// Someone who can write the database but holds neither the master key
// nor the node's data directory rewrites the audit log in every way that
// once passed, or was never looked at: an edit with every later hash
// recomputed and the checkpoints removed; the checkpoints alone removed;
// one checkpoint removed, or an unsigned one added; the newest checkpoint removed with the entries
// after the one before;
// an entry without a hash (as an older keyward writes) after the head, or
// in a chain of its own; an entry hashed to follow the head without
// moving it; another chain's entry moved into the middle. "keyward audit
// verify" calls each chain BROKEN and names where, and export marks what
// does not verify; the untouched chain still verifies.
func TestAuditVerifyFindsRewrittenChains(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
			args := dbArgs(t, e)
			with := func(cmd ...string) []string { return append(cmd, args...) }
			must := cliMust(t, args)
			domains := []string{"rehashed", "uncheckpointed", "gap", "squatted", "tailcut", "appended", "forgedtail", "middle", "donor", "clean"}
			for _, d := range domains {
				must("tenant", "create", "--domain", d)
			}
			// Entries of every tenant, interleaved, then two signed
			// checkpoints with entries between and after them.
			round := func(prefix string, n int) {
				for i := range n {
					for _, d := range domains {
						must("store", "create", "--tenant", d, "--code", fmt.Sprintf("%s%d", prefix, i))
					}
				}
			}
			round("a", 3)
			must("audit", "checkpoint")
			round("b", 2)
			if out := must("audit", "checkpoint"); !strings.Contains(out, "audit-head.json") {
				t.Fatalf("the checkpoint does not name its witness: %s", out)
			}
			round("c", 2)
			out := must("audit", "verify")
			if !strings.Contains(out, "ok: every chain verifies, against the signed checkpoints and the witness") ||
				!strings.Contains(out, "newest checkpoint: number 2") {
				t.Fatalf("an untouched log:\n%s", out)
			}

			db := openArgs(t, args)
			id := map[string]string{}
			for _, d := range domains {
				id[d] = tenantID(t, db, d)
			}
			rows := chainRows(t, db, id["rehashed"])
			rehashedFirst := rows[0].Seq
			sqlExec(t, db, `UPDATE audit SET object_id = 'forged' WHERE seq = ?`, rows[2].Seq)
			rehash(t, db, id["rehashed"], 2)
			sqlExec(t, db, `DELETE FROM audit_checkpoints WHERE chain = ?`, id["rehashed"])

			sqlExec(t, db, `DELETE FROM audit_checkpoints WHERE chain = ?`, id["uncheckpointed"])
			sqlExec(t, db, `DELETE FROM audit_checkpoints WHERE number = 1 AND chain = ?`, id["gap"])
			// A checkpoint without a signature taking the next number, so
			// that no genuine one could follow.
			sqlExec(t, db, `INSERT INTO audit_checkpoints (id, chain, number, prev_digest, seq, hash, trimmed_through, trimmed_hash, trimmed_count, created_at)
				SELECT 'ckp_squat', chain, 3, '', seq, hash, 0, '', 0, created_at FROM audit_checkpoints WHERE number = 2 AND chain = ?`, id["squatted"])

			var kept int64
			if err := db.SQL().QueryRow(`SELECT seq FROM audit_checkpoints WHERE number = 1 AND chain = `+placeholder(db, 1), id["tailcut"]).Scan(&kept); err != nil {
				t.Fatal(err)
			}
			sqlExec(t, db, `DELETE FROM audit_checkpoints WHERE number = 2 AND chain = ?`, id["tailcut"])
			sqlExec(t, db, `DELETE FROM audit WHERE seq > ? AND tenant_id = ?`, kept, id["tailcut"])
			sqlExec(t, db, `UPDATE audit_heads SET seq = ?, hash = (SELECT hash FROM audit WHERE seq = ?) WHERE chain = ?`, kept, kept, id["tailcut"])

			insert := `INSERT INTO audit (tenant_id, actor, actor_id, action, object_type, object_id, address, changes, at, prev_hash, hash)
				VALUES (?, 'mallory', '', 'key.create', 'key', 'key_x', '', '{}', ?, ?, ?)`
			at := time.Now().UTC().Truncate(auditchain.Precision)
			sqlExec(t, db, insert, id["appended"], at, "", "")
			sqlExec(t, db, insert, "ten_olderbinary", at, "", "")

			rows = chainRows(t, db, id["forgedtail"])
			last := rows[len(rows)-1]
			forged := auditchain.Hash(last.Hash, auditchain.Fields{Chain: id["forgedtail"], Actor: "mallory", Action: "key.create",
				ObjectType: "key", ObjectID: "key_x", Changes: "{}", At: at})
			sqlExec(t, db, insert, id["forgedtail"], at, last.Hash, forged)

			middle := chainRows(t, db, id["middle"])
			var moved int64
			for _, r := range chainRows(t, db, id["donor"]) {
				if r.Seq > middle[1].Seq && r.Seq < middle[2].Seq {
					moved = r.Seq
				}
			}
			sqlExec(t, db, `UPDATE audit SET tenant_id = ? WHERE seq = ?`, id["middle"], moved)

			out, err := cliRun(t, with("audit", "verify")...)
			if err == nil {
				t.Fatalf("a rewritten log verifies:\n%s", out)
			}
			for _, want := range []string{
				"tenant rehashed: BROKEN",
				"tenant rehashed: BROKEN from entry " + fmt.Sprint(rehashedFirst),
				"the newest checkpoint is number 0, but this node wrote number 2",
				"tenant uncheckpointed: BROKEN",
				"tenant gap: BROKEN",
				"checkpoint number 1 is missing (the next one found is number 2)",
				"tenant squatted: BROKEN",
				"checkpoint ckp_squat (number 3) carries no signature",
				"tenant tailcut: BROKEN",
				"the newest checkpoint is number 1, but this node wrote number 2",
				"tenant appended: BROKEN",
				"holds no hash: it was written outside the chain",
				"tenant ten_olderbinary: BROKEN",
				"tenant forgedtail: BROKEN from entry",
				fmt.Sprintf("comes after the chain's head (entry %d)", last.Seq),
				"tenant middle: BROKEN from entry " + fmt.Sprint(moved),
				fmt.Sprintf("entry %d was changed after it was written", moved),
				"tenant donor: BROKEN",
				"tenant clean: 8 entries verify",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("want %q in\n%s", want, out)
				}
			}
			for _, d := range domains[:len(domains)-1] {
				if !strings.Contains(out, "tenant "+d+": BROKEN") {
					t.Errorf("tenant %s verifies:\n%s", d, out)
				}
			}

			// The export marks every entry of a broken chain from its break
			// on, and none of the untouched one.
			file := filepath.Join(t.TempDir(), "audit.jsonl")
			must("audit", "export", "--out", file)
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			marked := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var r service.AuditRecord
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatal(err)
				}
				if r.Unverified {
					marked[r.TenantID]++
				}
				if r.Actor == "mallory" && !r.Unverified {
					t.Fatalf("a forged entry exported as verified: %+v", r)
				}
			}
			if marked[id["clean"]] != 0 || marked[id["appended"]] != 1 || marked["ten_olderbinary"] != 1 || marked[id["rehashed"]] < 8 {
				t.Fatalf("entries marked unverified by chain: %v", marked)
			}

			// The node writes no checkpoint over a chain that does not verify,
			// so the witness keeps what it saw.
			out, err = cliRun(t, with("audit", "checkpoint")...)
			if err == nil || !strings.Contains(out+err.Error(), "do not verify") {
				t.Fatalf("checkpointing broken chains: %v\n%s", err, out)
			}
			if out, _ := cliRun(t, with("audit", "verify")...); !strings.Contains(out, "the newest checkpoint is number 1, but this node wrote number 2") {
				t.Fatalf("a checkpoint run covered the cut tail:\n%s", out)
			}
		})
	}
}

// The audit log still verifies after the master key is rotated and the
// old key dropped: checkpoint signatures are rewrapped like every sealed
// value, and the chain of checkpoints goes on under the new key.
func TestAuditVerifiesAfterMasterKeyRotation(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			with := func(cmd ...string) []string { return append(cmd, args...) }
			must := cliMust(t, args)
			t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
			must("tenant", "create", "--domain", "shop")
			must("store", "create", "--tenant", "shop", "--code", "one")
			must("audit", "checkpoint")
			t.Setenv("KEYWARD_MASTER_KEY", otherMasterKey+","+testMasterKey)
			must("secrets", "rotate")
			t.Setenv("KEYWARD_MASTER_KEY", otherMasterKey)
			must("store", "create", "--tenant", "shop", "--code", "two")
			must("audit", "checkpoint")
			out := must("audit", "verify")
			if !strings.Contains(out, "ok: every chain verifies, against the signed checkpoints and the witness") || !strings.Contains(out, "newest checkpoint: number 2") {
				t.Fatalf("after rotation:\n%s", out)
			}
			// Only the retired key: the signatures no longer open.
			t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
			if out, err := cliRun(t, with("audit", "verify")...); err == nil {
				t.Fatalf("verified with a key that signed nothing now:\n%s", out)
			}
		})
	}
}

// A command that takes the master key and is given none uses the one
// "serve --demo" generated into the data directory, as serve there does,
// and says so once on standard error: checkpoints written on demo data
// are signed and verify, and sealed records open.
func TestCLIUsesTheDemoMasterKey(t *testing.T) {
	t.Setenv("KEYWARD_MASTER_KEY", "")
	t.Setenv("KEYWARD_MASTER_KEY_FILE", "")
	dir := t.TempDir()
	startNodeEnv(t, "--demo", "--data", dir).shut()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "checkpoint"}, "checkpoint written"},
		{[]string{"audit", "verify"}, "ok: every chain verifies, against the signed checkpoints"},
		{[]string{"identity", "keys"}, "current"},
		{[]string{"webhooks", "list", "--tenant", service.DemoDomain}, "ID"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(c.args, "--data", dir), &out, &errOut)
		if err != nil || !strings.Contains(out.String(), c.want) || strings.Contains(out.String(), "no signature") {
			t.Fatalf("%v: %v\n%s%s", c.args, err, out.String(), errOut.String())
		}
		if n := strings.Count(errOut.String(), filepath.Join(dir, demoMasterKeyFile)); n != 1 {
			t.Fatalf("%v: want the demo key named once on stderr, got:\n%s", c.args, errOut.String())
		}
	}
	// Given a master key, the command uses it and leaves the demo key alone.
	t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"identity", "keys", "--data", dir}, &out, &errOut); err == nil || strings.Contains(errOut.String(), demoMasterKeyFile) {
		t.Fatalf("another master key than the data's opened it: %v\n%s%s", err, out.String(), errOut.String())
	}
}
