package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// node starts another keyward node on the same PostgreSQL database as e,
// with the same master key, whose clock is ahead by skew.
func (e *env) node(db *store.DB, skew time.Duration) *env {
	e.t.Helper()
	db2, err := store.Open(context.Background(), db.URL(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db2.Close() })
	svc := service.New(db2, catalog.Builtin(), service.WithKeyring(e.svc.Keyring()), service.WithPasswordHasher(secret.TestHasher()),
		service.WithClock(func() time.Time { return time.Now().Add(skew).UTC() }))
	mux := http.NewServeMux()
	api.New(svc, nil).Register(mux)
	srv := httptest.NewServer(httpx.Common(mux))
	e.t.Cleanup(srv.Close)
	n := *e
	n.srv, n.svc = srv, svc
	return &n
}

// A create retried with its Idempotency-Key is answered once: the same
// key and body within 24 hours get the first answer, secrets included;
// another body or route with the key is refused with 422; the answer is
// kept sealed; and on PostgreSQL another node answers the retry the same.
func TestIdempotencyKeyAnswersARetryWithTheFirstAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		body := `{"name": "retried", "permissions": {"orders": "read"}}`
		idem := map[string]string{"Idempotency-Key": "2f1c0d3e-retry-1"}
		code, _, first := e.send(e.admin, "POST", "/api/v1/keys", body, idem)
		if code != 201 {
			t.Fatalf("create: %d %v", code, first)
		}
		secret := first["secrets"].([]any)[0].(map[string]any)["secret"].(string)
		code, h, again := e.send(e.admin, "POST", "/api/v1/keys", body, idem)
		if code != 201 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" || h.Get("ETag") == "" {
			t.Fatalf("retry: %d %v (replayed %q), want the first answer %v", code, again, h.Get("Idempotent-Replayed"), first["id"])
		}
		if s := again["secrets"].([]any)[0].(map[string]any)["secret"]; s != secret || h.Get("Cache-Control") != "no-store" {
			t.Errorf("the retry must show the secrets the first answer showed, uncached (Cache-Control %q)", h.Get("Cache-Control"))
		}
		// The same request serialised otherwise (spacing, member order,
		// escapes) is the same request.
		for _, same := range []string{
			`{"permissions":{"orders":"read"},"name":"retried"}`,
			"{\n  \"name\" : \"retr\\u0069ed\",\n  \"permissions\": { \"orders\": \"read\" }\n}",
		} {
			code, h, again := e.send(e.admin, "POST", "/api/v1/keys", same, idem)
			if code != 201 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" {
				t.Errorf("retry re-serialised as %s: %d %v, want the first answer replayed", same, code, again)
			}
		}
		if n := countNamed(e, "retried"); n != 1 {
			t.Errorf("%d keys named retried, want 1", n)
		}

		for _, c := range []struct{ name, path, body string }{
			{"another body", "/api/v1/keys", `{"name": "other"}`},
			{"another value", "/api/v1/keys", `{"name": "retried", "permissions": {"orders": "write"}}`},
			{"a member more", "/api/v1/keys", `{"name": "retried", "permissions": {"orders": "read"}, "description": ""}`},
			{"another route", "/api/v1/stores", `{"code": "other"}`},
		} {
			code, _, p := e.send(e.admin, "POST", c.path, c.body, idem)
			if code != 422 || p["code"] != "idempotency_key_reused" {
				t.Errorf("%s with a used key: %d %v, want 422 idempotency_key_reused", c.name, code, p)
			}
		}
		if n := countNamed(e, "other"); n != 0 {
			t.Errorf("a refused retry created a key")
		}

		// Another caller's key of the same name is another key.
		other, _ := e.userWith("ben@demo.test", "api_management")
		if code, _, k := e.send(other, "POST", "/api/v1/keys", `{"name": "bens"}`, idem); code != 201 || k["id"] == first["id"] {
			t.Errorf("another user's key: %d %v", code, k)
		}

		rows, err := db.SQL().Query(`SELECT response FROM idempotency_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var resp string
			rows.Scan(&resp)
			if strings.Contains(resp, secret) || strings.Contains(resp, "retried") {
				t.Errorf("a kept answer is readable in the database: %.60s…", resp)
			}
		}

		if db.Engine() != store.Postgres {
			return
		}
		// Another node answers the retry from the shared database…
		n2 := e.node(db, 0)
		code, _, fromB := n2.send(e.admin, "POST", "/api/v1/keys", body, idem)
		if code != 201 || fromB["id"] != first["id"] {
			t.Errorf("retry on another node: %d %v, want key %v", code, fromB["id"], first["id"])
		}
		// …and once the 24 hours have passed, the key is free again.
		later := e.node(db, 25*time.Hour)
		code, _, fresh := later.send(e.admin, "POST", "/api/v1/keys", `{"name": "retried-later"}`, idem)
		if code != 201 || fresh["id"] == first["id"] {
			t.Errorf("after 24 hours: %d %v, want a new key", code, fresh)
		}
	})
}

func countNamed(e *env, name string) int {
	e.t.Helper()
	_, _, page := e.send(e.admin, "GET", "/api/v1/keys?limit=100", "", nil)
	n := 0
	for _, k := range page["data"].([]any) {
		if k.(map[string]any)["name"] == name {
			n++
		}
	}
	return n
}

// A retry sent while the first request still runs is refused with 409
// (on PostgreSQL, from another node too); a first request the server
// failed frees its key for the retry.
func TestIdempotencyKeyWhileTheFirstRequestRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		actor, err := e.svc.Authenticate(context.Background(), e.admin, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ctx := keyward.WithActor(context.Background(), actor)
		const route, hash = "POST /api/v1/keys", "body-hash"
		if first, err := e.svc.BeginIdempotent(ctx, "in-flight", route, hash); first != nil || err != nil {
			t.Fatalf("the first request: %v %v", first, err)
		}
		nodes := []*service.Service{e.svc}
		if db.Engine() == store.Postgres {
			nodes = append(nodes, e.node(db, 0).svc)
		}
		for i, svc := range nodes {
			if _, err := svc.BeginIdempotent(ctx, "in-flight", route, hash); keyward.ErrorCode(err) != keyward.EConflict {
				t.Errorf("node %d: a retry while the first runs: %v, want conflict", i, err)
			}
		}
		if err := e.svc.AbandonIdempotent(ctx, "in-flight"); err != nil {
			t.Fatal(err)
		}
		if first, err := nodes[len(nodes)-1].BeginIdempotent(ctx, "in-flight", route, hash); first != nil || err != nil {
			t.Errorf("after the first failed, the retry runs: %v %v", first, err)
		}
	})
}

// A retry is answered only to the credential that sent the first request,
// and only while it may still make that request: once its user has lost
// API Management, must choose a new password or is deactivated, the
// retry is refused like a first request would be, and no secret comes
// back. Another user, or another token of the same user, sending the same
// key gets a request of its own, never the kept answer.
func TestIdempotentRetryIsAuthorizedAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		tok, profileID := e.userWith("keys@demo.test", keyward.FeatureAPIManagement)
		body := `{"name": "retried", "permissions": {"orders": "read"}}`
		idem := map[string]string{"Idempotency-Key": "9d2e-authz-1"}
		code, _, first := e.send(tok, "POST", "/api/v1/keys", body, idem)
		if code != 201 {
			t.Fatalf("create: %d %v", code, first)
		}
		secrets := []string{}
		for _, s := range first["secrets"].([]any) {
			secrets = append(secrets, s.(map[string]any)["secret"].(string))
		}
		leaks := func(out map[string]any) bool {
			raw, _ := json.Marshal(out)
			for _, s := range secrets {
				if strings.Contains(string(raw), s) {
					return true
				}
			}
			return false
		}
		if code, h, again := e.send(tok, "POST", "/api/v1/keys", body, idem); code != 201 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry by the same token: %d %v", code, again)
		}

		ctx := context.Background()
		ten, _ := e.svc.TenantByDomain(ctx, "demo")
		_, tok2, err := e.svc.CreateToken(keyward.WithActor(ctx, service.SystemActor(ten, "test")), "keys@demo.test", keyward.TokenCreate{Name: "second"})
		if err != nil {
			t.Fatal(err)
		}
		for name, other := range map[string]string{"another user": e.admin, "another token of the user": tok2} {
			code, h, got := e.send(other, "POST", "/api/v1/keys", body, idem)
			if got["id"] == first["id"] || leaks(got) || h.Get("Idempotent-Replayed") != "" {
				t.Errorf("%s sending the same key: %d (key %v), want a request of its own", name, code, got["id"])
			}
		}

		refused := func(what string, status int, problem string) {
			t.Helper()
			code, h, got := e.send(tok, "POST", "/api/v1/keys", body, idem)
			if code != status || got["code"] != problem || leaks(got) || h.Get("Idempotent-Replayed") != "" {
				t.Errorf("retry after %s: %d %v (secrets shown: %v), want %d %s and no secret", what, code, got["code"], leaks(got), status, problem)
			}
		}
		if code, out := e.do(e.admin, "PATCH", "/api/v1/profiles/"+profileID, map[string]any{"features": []string{"audit"}}); code != 200 {
			t.Fatalf("take API Management away: %d %v", code, out)
		}
		refused("API Management was taken away", 403, "feature_required")
		if code, out := e.do(e.admin, "PATCH", "/api/v1/profiles/"+profileID, map[string]any{"features": []string{"api_management"}}); code != 200 {
			t.Fatalf("give API Management back: %d %v", code, out)
		}
		if code, out := e.do(e.admin, "POST", "/api/v1/users/keys@demo.test/password-reset", nil); code != 200 {
			t.Fatalf("password reset: %d %v", code, out)
		}
		refused("a password reset", 403, "password_change_required")
		if code, out := e.do(e.admin, "PATCH", "/api/v1/users/keys@demo.test", map[string]any{"active": false}); code != 200 {
			t.Fatalf("deactivate: %d %v", code, out)
		}
		refused("deactivation", 401, "unauthenticated")
	})
}

// Reading a stored connection secret keeps no answer under an
// Idempotency-Key: each call runs, is audited and reads the secret as it
// is now, so no retry hands out a secret its connection no longer holds.
func TestRevealSecretIsNeverAnsweredFromAKeptAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		idem := map[string]string{"Idempotency-Key": "reveal-1"}
		for i := range 2 {
			code, h, got := e.send(e.admin, "POST", "/api/v1/connections/con_nope/reveal", `{"field": "access_token"}`, idem)
			if code != 404 || h.Get("Idempotent-Replayed") != "" {
				t.Errorf("call %d: %d %v (replayed %q), want a 404 of its own", i+1, code, got, h.Get("Idempotent-Replayed"))
			}
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d answers kept (%v), want none", n, err)
		}
	})
}

// The query is part of the request an Idempotency-Key stands for: a retry
// asking for another grace on a regenerated merchant Auth Key is another
// request, refused with 422, not answered with the first one's outcome
// (which stopped the old key at once).
func TestIdempotencyKeyWithAnotherQueryIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, m := e.do(e.admin, "POST", "/api/v1/merchants", map[string]any{"name": "Acme"})
		if code != 201 {
			t.Fatalf("create merchant: %d %v", code, m)
		}
		users := "/api/v1/merchants/" + m["id"].(string) + "/users"
		code, u := e.do(e.admin, "POST", users, map[string]any{"email": "ops@acme.test", "level": 2, "api_access": true})
		if code != 201 {
			t.Fatalf("create merchant user: %d %v", code, u)
		}
		regen := users + "/" + u["id"].(string) + "/auth-key"
		idem := map[string]string{"Idempotency-Key": "regen-1"}
		if code, _, p := e.send(e.admin, "POST", regen, "", idem); code != 200 || p["previous_auth_key_expires_at"] != nil {
			t.Fatalf("regenerate without grace: %d %v", code, p)
		}
		code, h, p := e.send(e.admin, "POST", regen+"?grace=48h", "", idem)
		if code != 422 || p["code"] != "idempotency_key_reused" {
			t.Errorf("a retry with another grace: %d %v (replayed %q), want 422 idempotency_key_reused", code, p, h.Get("Idempotent-Replayed"))
		}
	})
}
