package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// The key form sets a quota in plain words, keeps a mistyped one with the
// error beside it, and removes the quota when the number is emptied; the
// key's page shows what the period used and what remains.
func TestKeyFormQuota(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	form := func(limit, period string) url.Values {
		return url.Values{"name": {"Daily"}, "enabled": {"true"}, "perm.orders": {"read"}, "stores_access": {"all"},
			"methods_mode": {"all"}, "quota_limit": {limit}, "quota_period": {period}}
	}
	res := c.post(pathKeys, form("ten thousand", "day"))
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="quota-error"`, "whole number of requests", `value="ten thousand"`)

	res = c.post(pathKeys, form("10,000", "day"))
	if res.StatusCode >= 400 {
		t.Fatalf("create: %d\n%s", res.StatusCode, res.Body)
	}
	p, err := e.svc.ListKeys(e.sys, keyward.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var k *keyward.Key
	for _, x := range p.Data {
		if x.Name == "Daily" {
			k = x
		}
	}
	if k == nil || k.Quota == nil || *k.Quota != (keyward.Quota{Limit: 10_000, Period: keyward.QuotaDay}) {
		t.Fatalf("key %+v", k)
	}
	ctx := context.Background()
	now := e.svc.Now()
	if err := e.db.Write(ctx, func(q *store.Q) error {
		return q.AddQuotaUse(ctx, store.QuotaCount{KeyID: k.ID, Period: keyward.QuotaDay, Start: k.Quota.Start(now), Used: 2_500})
	}); err != nil {
		t.Fatal(err)
	}
	page := c.get(pathKeys + "/" + k.ID)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "At most 10,000 requests a day", "<strong>2,500</strong> used today", "<strong>7,500</strong> remaining", "Refills")

	edit := pathKeys + "/" + k.ID + "/edit"
	res = c.get(edit)
	wantBody(t, res, `name="quota_limit" value="10000"`, `<option value="day" selected>a day</option>`)
	f := form("500", "none")
	f.Set("version", formVersion(t, res))
	wantStatus(t, c.post(edit, f), http.StatusSeeOther)
	if got, _ := e.svc.Key(e.sys, k.ID); got.Quota == nil || *got.Quota != (keyward.Quota{Limit: 500, Period: keyward.QuotaNone}) {
		t.Fatalf("after the edit: %+v", got.Quota)
	}
	wantBody(t, c.get(pathKeys+"/"+k.ID), "At most 500 requests in total", "Does not refill")

	f = form("", "day")
	f.Set("version", formVersion(t, c.get(edit)))
	wantStatus(t, c.post(edit, f), http.StatusSeeOther)
	if got, _ := e.svc.Key(e.sys, k.ID); got.Quota != nil {
		t.Fatalf("an empty number kept the quota: %+v", got.Quota)
	}
}
