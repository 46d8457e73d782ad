package service_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

func TestDemoShowcaseHasKeysAMerchantAndAPortalUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		show, err := f.Svc.SeedDemoShowcase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		keys, err := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{})
		if err != nil || len(keys.Data) != 2 {
			t.Fatalf("demo keys: %d, %v", len(keys.Data), err)
		}
		for _, k := range keys.Data {
			if w := f.Svc.KeyWarnings(k); len(w) > 0 {
				t.Fatalf("demo key %s: %v", k.Name, w)
			}
		}
		// The printed login signs the merchant user in to the portal, where
		// API Settings is theirs.
		res, err := f.Svc.SignInAny(context.Background(), "", show.MerchantEmail, show.MerchantPassword, "198.51.100.7")
		if err != nil || res.Merchant == nil {
			t.Fatalf("merchant sign-in: %+v, %v", res, err)
		}
		a, err := f.Svc.WebActor(context.Background(), res.Token, "198.51.100.7")
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.Svc.MerchantPortal(keyward.WithActor(context.Background(), a))
		if err != nil || !p.APISettings || p.User.Level != keyward.MerchantLevel2 || p.Merchant.Name != show.MerchantName {
			t.Fatalf("portal: %+v, %v", p, err)
		}
	})
}
