package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// staleCheck makes the password check of every session of user an hour old.
func (e *env) staleCheck(userID string) {
	e.t.Helper()
	if _, err := e.db.SQL().Exec(`UPDATE sessions SET checked_at = ? WHERE user_id = ?`, time.Now().Add(-time.Hour).UTC(), userID); err != nil {
		e.t.Fatal(err)
	}
}

// Creating and rolling keys, regenerating a merchant's key and changing a
// profile are refused until the password is confirmed when the last check
// is old; confirming returns to the page with a new session id.
func TestStepUpGuardsSensitivePages(t *testing.T) {
	e := newEnv(t, false)
	u := e.staff("ana@demo.test", keyward.FeatureAPIManagement, keyward.FeatureUsers, keyward.FeatureMerchants, keyward.FeatureConnectors)
	k := e.key(keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}})
	m := e.merchant("Acme")
	mu := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: keyward.MerchantLevel2, APIAccess: true})
	clerk := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "clerk@acme.test", Level: keyward.MerchantLevel2})
	conn, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "fortnox", Name: "Books",
		Fields: map[string]string{"client_id": "c", "secret": "s", "refresh_token": "r"}, SaveUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn("ana@demo.test", staffPassword)
	wantStatus(t, c.get(pathKeys+"/new"), http.StatusOK) // just signed in
	e.staleCheck(u.ID)
	p, err := e.svc.CreateProfile(e.sys, keyward.ProfileCreate{Name: "Clerks", Features: []keyward.Feature{keyward.FeatureAudit}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", pathKeys + "/new", nil},
		{"POST", pathKeys, url.Values{"name": {"CPA"}, "perm.orders": {"read"}}},
		{"POST", pathKeys + "/" + k.ID + "/roll", url.Values{"slot": {"1"}}},
		{"GET", pathProfiles + "/" + p.ID, nil},
		{"POST", pathProfiles + "/" + p.ID, url.Values{"name": {"Clerks"}, "feature": {"audit", "users"}}},
		{"POST", pathConnectors + "/" + conn.ID, url.Values{"name": {"Books"}, "field.client_id": {"c"}, "field.secret": {"changed"}, "save_unverified": {"true"}}},
		{"GET", pathConnectors + "/" + conn.ID + "/reveal", nil},
		{"POST", pathMerchants + "/" + m.ID + "/users/" + mu.ID + "/regenerate", url.Values{}},
		{"POST", pathMerchants + "/" + m.ID + "/users/" + clerk.ID + "/edit", url.Values{"name": {"Clerk"}, "level": {"2"}, "api_access": {"true"}}},
	} {
		res := c.do(tc.method, tc.path, tc.form, nil)
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, pathStepUp+"?next=") {
			t.Fatalf("%s %s went to %q, not the password check", tc.method, tc.path, loc)
		}
	}
	if keys, _ := e.svc.ListKeys(e.sys, keyward.KeyFilter{}); len(keys.Data) != 1 {
		t.Fatalf("%d keys after refused creations", len(keys.Data))
	}
	if !e.merchantAuth(mu.AccountID, mu.AuthKey) {
		t.Fatal("a refused regeneration replaced the merchant's auth key")
	}
	mus, err := e.svc.ListMerchantUsers(e.sys, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range mus {
		if got.ID == clerk.ID && got.APIAccess {
			t.Fatal("a refused change gave a merchant user API access")
		}
	}
	if got, _ := e.svc.Profile(e.sys, p.ID); len(got.Features) != 1 {
		t.Fatalf("a refused profile change changed it: %v", got.Features)
	}
	res := c.get(pathStepUp + "?next=" + url.QueryEscape(pathKeys+"/new"))
	wantStatus(t, res, http.StatusOK)
	res = c.post(pathStepUp, url.Values{"password": {"wrong password"}, "next": {pathKeys + "/new"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="password-error"`)
	res = c.post(pathStepUp, url.Values{"password": {staffPassword}, "next": {pathKeys + "/new"}})
	wantStatus(t, res, http.StatusSeeOther)
	if res.Header.Get("Location") != pathKeys+"/new" || sessionCookie(res) == nil {
		t.Fatalf("after confirming: to %q, new session id %v", res.Header.Get("Location"), sessionCookie(res) != nil)
	}
	wantStatus(t, c.get(pathKeys+"/new"), http.StatusOK)
	res = c.post(pathKeys, url.Values{"name": {"CPA"}, "perm.orders": {"read"}})
	wantStatus(t, res, http.StatusCreated)
	// An open redirect is not possible through next.
	res = c.post(pathStepUp, url.Values{"password": {staffPassword}, "next": {"https://evil.example/"}})
	if loc := res.Header.Get("Location"); loc != pathHome {
		t.Fatalf("next to another site went to %q", loc)
	}
}

// A profile change gives the sessions of its users a new id on their next
// page; the old id stops working. Signing out everywhere ends every
// session of the user.
func TestSessionIDRenewedOnProfileChangeAndSignOutEverywhere(t *testing.T) {
	e := newEnv(t, false)
	u := e.staff("ana@demo.test", keyward.FeatureAudit)
	c := e.client()
	old := sessionCookie(c.signIn("ana@demo.test", staffPassword))
	other := e.client()
	other.signIn("ana@demo.test", staffPassword)
	features := []keyward.Feature{keyward.FeatureAudit, keyward.FeatureAPIManagement}
	if _, err := e.svc.UpdateProfile(e.sys, u.ProfileID, keyward.ProfileUpdate{Features: &features}); err != nil {
		t.Fatal(err)
	}
	res := c.get(pathAudit)
	wantStatus(t, res, http.StatusOK)
	renewed := sessionCookie(res)
	if renewed == nil || renewed.Value == old.Value || !renewed.HttpOnly {
		t.Fatalf("no new session id after a profile change: %v", renewed)
	}
	stale := e.client()
	u0, _ := url.Parse(e.srv.URL)
	stale.http.Jar.SetCookies(u0, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/"}})
	wantStatus(t, stale.get(pathAudit), http.StatusSeeOther)
	wantStatus(t, c.get(pathAudit), http.StatusOK)

	res = c.post(pathSignOutAll, nil)
	wantStatus(t, res, http.StatusSeeOther)
	wantStatus(t, c.get(pathAudit), http.StatusSeeOther)
	wantStatus(t, other.get(pathAudit), http.StatusSeeOther)
}

// The audit page exports a date range as CSV with each entry's hashes; a
// formula-looking value is defused.
func TestAuditCSVExport(t *testing.T) {
	e := newEnv(t, false)
	e.staff("ana@demo.test", keyward.FeatureAudit)
	if _, err := e.svc.CreateStore(e.sys, keyward.StoreCreate{Code: "csv", Name: "=HYPERLINK(\"x\")"}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn("ana@demo.test", staffPassword)
	today := time.Now().UTC().Format(time.DateOnly)
	res := c.get(pathAuditExport + "?from=" + today + "&to=" + today)
	wantStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("content type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	if err != nil || len(rows) < 3 {
		t.Fatalf("%d rows, %v\n%s", len(rows), err, res.Body)
	}
	if strings.Join(rows[0], ",") != "seq,at,actor,actor_id,action,object_type,object_id,address,changes,prev_hash,hash,verified" {
		t.Fatalf("header %v", rows[0])
	}
	found := false
	for i, r := range rows[1:] {
		if len(r[10]) != 64 || (i > 0 && r[9] != rows[i][10]) || r[11] != "true" {
			t.Fatalf("row %d does not link to the one before, or does not verify: %v", i+1, r)
		}
		if r[4] == "store.create" && strings.Contains(r[8], "HYPERLINK") {
			found = true
			if strings.HasPrefix(r[8], "=") {
				t.Fatalf("a formula cell: %q", r[8])
			}
		}
	}
	if !found {
		t.Fatalf("the store's creation is not in the export:\n%s", res.Body)
	}
	res = c.get(pathAuditExport + "?from=2999-01-01")
	wantStatus(t, res, http.StatusOK)
	if rows, _ := csv.NewReader(strings.NewReader(res.Body)).ReadAll(); len(rows) != 1 {
		t.Fatalf("a future range exported %d rows", len(rows))
	}
	wantStatus(t, c.get(pathAuditExport+"?from=yesterday"), http.StatusBadRequest)
}

// An administrator resets a user's two-factor sign-in from the users page.
func TestResetTwoFactorFromTheUsersPage(t *testing.T) {
	e := newEnv(t, false)
	ana := e.staff("ana@demo.test", keyward.FeatureAudit)
	a := e.client()
	a.signIn("ana@demo.test", staffPassword)
	res := a.get(pathAccount)
	seed := strings.SplitN(strings.SplitN(res.Body, `name="secret" value="`, 2)[1], `"`, 2)[0]
	res = a.post(pathAccount+"/totp", url.Values{"secret": {seed}, "code": {totpCode(t, seed, time.Now())}})
	wantStatus(t, res, http.StatusOK)

	boss := e.client()
	boss.signIn(e.demo.Email, e.demo.Password)
	res = boss.post(pathUsers+"/"+ana.ID+"/totp-reset", nil)
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != pathUsers {
		t.Fatalf("reset went to %q", loc)
	}
	wantStatus(t, a.get(pathAccount), http.StatusSeeOther) // ana's session ended
	again := e.client()
	res = again.signIn("ana@demo.test", staffPassword) // no code asked
	if loc := res.Header.Get("Location"); strings.HasPrefix(loc, pathCode) {
		t.Fatal("the second factor is still asked for")
	}
}
