package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Under a maximum lifetime a key created without an expiry gets the
// longest allowed, a later expiry is refused naming the maximum and
// nothing is created, and an expiry cannot be removed; keys created
// before keep theirs.
func TestMaxLifetimeHoldsNewKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		before := f.CreateKey(keyward.KeyCreate{Name: "Before", Permissions: keyward.Permissions{"orders": "read"}})
		ninety := 90
		p, err := f.Svc.UpdateKeyPolicy(f.Ctx, keyward.KeyPolicyUpdate{MaxLifetimeDays: &ninety})
		if err != nil || p.MaxLifetimeDays != 90 || p.ETag() == "" {
			t.Fatalf("policy: %+v, %v", p, err)
		}
		k := f.CreateKey(keyward.KeyCreate{Name: "Default", Permissions: keyward.Permissions{"orders": "read"}})
		if want := f.Now.Add(90 * 24 * time.Hour); k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) {
			t.Fatalf("created without an expiry: expires %v, want %v", k.ExpiresAt, want)
		}
		late := f.Now.Add(91 * 24 * time.Hour)
		_, err = f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "Late", Permissions: keyward.Permissions{"orders": "read"}, ExpiresAt: &late})
		var e *keyward.Error
		if !asError(err, &e) || e.Code != keyward.EInvalid || e.Field != "expires_at" || !strings.Contains(e.Message, "90 days") {
			t.Fatalf("a later expiry: %v", err)
		}
		if _, err := f.Svc.UpdateKey(f.Ctx, k.ID, keyward.KeyUpdate{ExpiresAt: keyward.NullableTime{Set: true}}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("removing the expiry: %v", err)
		}
		if _, err := f.Svc.UpdateKey(f.Ctx, k.ID, keyward.KeyUpdate{ExpiresAt: keyward.SetTime(late)}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a later expiry on update: %v", err)
		}
		keys, err := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{})
		if err != nil || len(keys.Data) != 2 {
			t.Fatalf("keys: %d, %v", len(keys.Data), err)
		}
		if b, err := f.Svc.Key(f.Ctx, before.ID); err != nil || b.ExpiresAt != nil {
			t.Fatalf("a key from before the policy: %+v, %v", b, err)
		}
	})
}

// The policy is a merge patch: members left out keep their value, null
// removes a rule, and a change sent with an old ETag is refused.
func TestKeyPolicyIsAMergePatchWithAnETag(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		thirty, sixty := 30, 60
		p1, err := f.Svc.UpdateKeyPolicy(f.Ctx, keyward.KeyPolicyUpdate{MaxLifetimeDays: &thirty, InactiveDays: &sixty})
		if err != nil {
			t.Fatal(err)
		}
		var in keyward.KeyPolicyUpdate
		if err := in.Null("max_lifetime_days"); err != nil {
			t.Fatal(err)
		}
		p2, err := f.Svc.UpdateKeyPolicy(keyward.WithIfMatch(f.Ctx, p1.ETag()), in)
		if err != nil || p2.MaxLifetimeDays != 0 || p2.InactiveDays != 60 || p2.ETag() == p1.ETag() {
			t.Fatalf("after null: %+v (%s, was %s), %v", p2, p2.ETag(), p1.ETag(), err)
		}
		if _, err := f.Svc.UpdateKeyPolicy(keyward.WithIfMatch(f.Ctx, p1.ETag()), keyward.KeyPolicyUpdate{InactiveDays: &thirty}); keyward.ErrorCode(err) != keyward.EPreconditionFailed {
			t.Fatalf("with an old ETag: %v", err)
		}
		one := 1
		if _, err := f.Svc.UpdateKeyPolicy(f.Ctx, keyward.KeyPolicyUpdate{InactiveDays: &one}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("inactive_days 1: %v", err)
		}
		if got, err := f.Svc.KeyPolicy(f.Ctx); err != nil || got.InactiveDays != 60 || got.ETag() != p2.ETag() {
			t.Fatalf("read back: %+v, %v", got, err)
		}
	})
}
