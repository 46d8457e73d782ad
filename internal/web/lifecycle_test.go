package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// The key's page shows each secret's last use with its client address,
// and a banner while the key expires within 7 days.
func TestKeyPageShowsLastUsePerSecretAndExpiry(t *testing.T) {
	e := newEnv(t, false)
	soon := time.Now().UTC().Add(3*24*time.Hour + time.Hour)
	k := e.key(keyward.KeyCreate{Name: "Soon", Permissions: keyward.Permissions{"orders": "read"}, ExpiresAt: &soon})
	later := time.Now().UTC().Add(30 * 24 * time.Hour)
	far := e.key(keyward.KeyCreate{Name: "Far", Permissions: keyward.Permissions{"orders": "read"}, ExpiresAt: &later})
	ctx := context.Background()
	err := e.db.Write(ctx, func(q *store.Q) error {
		return q.TouchKeySecret(ctx, k.Secrets[1].Digest, time.Now().Add(-3*time.Minute), "203.0.113.7")
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathKeys + "/" + k.ID)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `from <span class="mono">203.0.113.7</span>`, "This key expires on", "(in 3 days)")
	res = c.get(pathKeys + "/" + far.ID)
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body, "This key expires on") {
		t.Fatal("a key expiring in 30 days shows the expiry banner")
	}
}

// Settings > Key Policy sets the maximum lifetime, which the key form
// then states and applies; a value out of range is refused beside its
// field and nothing changes.
func TestKeyPolicyPageAndKeyFormExpiry(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.post(pathKeyPolicy, url.Values{"max_lifetime_days": {"90"}, "inactive_days": {"1"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="inactive-days-error"`, "2 to 3650 days")
	res = c.post(pathKeyPolicy, url.Values{"max_lifetime_days": {"90"}, "inactive_days": {"45"}})
	wantStatus(t, res, http.StatusSeeOther)
	res = c.get(pathKeyPolicy)
	wantBody(t, res, "The key policy is saved.", `value="90"`, `value="45"`)
	p, err := e.svc.KeyPolicy(e.sys)
	if err != nil || p.MaxLifetimeDays != 90 || p.InactiveDays != 45 {
		t.Fatalf("policy: %+v, %v", p, err)
	}

	res = c.get(pathKeys + "/new")
	wantBody(t, res, "allows at most 90 days", `name="expires_at"`)
	tooLate := time.Now().UTC().Add(200 * 24 * time.Hour).Format("2006-01-02")
	res = c.post(pathKeys, url.Values{"name": {"Late"}, "perm.orders": {"read"}, "stores_access": {"all"}, "methods_mode": {"all"}, "expires_at": {tooLate}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="expires_at-error"`, "maximum key lifetime of 90 days")
	date := time.Now().UTC().Add(10 * 24 * time.Hour).Format("2006-01-02")
	res = c.post(pathKeys, url.Values{"name": {"Dated"}, "perm.orders": {"read"}, "stores_access": {"all"}, "methods_mode": {"all"}, "expires_at": {date}})
	wantStatus(t, res, http.StatusCreated)
	ks, err := e.svc.ListKeys(e.sys, keyward.KeyFilter{})
	if err != nil || len(ks.Data) != 1 || ks.Data[0].ExpiresAt == nil || ks.Data[0].ExpiresAt.Format("2006-01-02") != date {
		t.Fatalf("keys: %+v, %v", ks, err)
	}
}
