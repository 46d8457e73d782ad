package service_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// fixture is the demo tenant with a service, a replica kept in step by
// the change hook, and a movable clock.
type fixture struct{ *keywardtest.Platform }

func newFixture(t *testing.T, db *store.DB) *fixture { return &fixture{keywardtest.New(t, db)} }

// verify asks the replica about a method id on a store.
func (f *fixture) verify(secret, method, store string) replica.Result {
	f.TB.Helper()
	m, ok := f.Rep.Catalog().Method(method)
	if !ok {
		f.TB.Fatalf("no method %s", method)
	}
	return f.Rep.Verify(secret, m, store)
}

func TestSeedFlowsEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)

		// Seed 000: a key named THQ described TranslatorHQ, two working secrets.
		thq := f.CreateKey(keyward.KeyCreate{Name: "THQ", Description: "TranslatorHQ",
			Permissions: keyward.Permissions{"orders": "write", "customers": "write"}})
		if thq.DisplayName != "demo-THQ" || len(thq.Secrets) != 2 {
			t.Fatalf("THQ: display %q with %d secrets", thq.DisplayName, len(thq.Secrets))
		}
		for _, s := range thq.Secrets {
			if len(s.Secret) < 32 || !strings.HasPrefix(s.Secret, "kwk_") {
				t.Fatalf("secret %q too short or unprefixed", s.Hint)
			}
			if r := f.verify(s.Secret, "orders.list", "main"); r.Code != keyward.CodeValid {
				t.Fatalf("slot %d: %s, want VALID", s.Slot, r.Code)
			}
		}

		// Seed 001: the ReCharge permission set is refused on a payments
		// write and names what is missing.
		re := f.CreateKey(keyward.KeyCreate{Name: "RetentionEngine", Permissions: keyward.Permissions{
			"orders": "write", "discounts": "write", "subscriptions": "write", "customers": "write",
			"payments": "read", "store_information": "read"}})
		sec := re.Secrets[0].Secret
		r := f.verify(sec, "payments.create", "main")
		if r.Code != keyward.CodeInsufficientPermission || r.Decision.Resource != "payments" || r.Decision.Level != keyward.LevelWrite {
			t.Fatalf("payments write: %s %s %s", r.Code, r.Decision.Resource, r.Decision.Level)
		}
		for _, ok := range []string{"payments.list", "subscriptions.cancel", "discounts.create", "customers.update"} {
			if r := f.verify(sec, ok, "main"); r.Code != keyward.CodeValid {
				t.Errorf("%s: %s, want VALID", ok, r.Code)
			}
		}

		// Seed 002: a key allowed only the order-status method on one store
		// is refused everything else.
		cpa := f.CreateKey(keyward.KeyCreate{Name: "CPA", Permissions: keyward.Permissions{"orders": "read"},
			Stores:  keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}},
			Methods: []string{"orders.statuses.list"}})
		sec = cpa.Secrets[1].Secret
		if r := f.verify(sec, "orders.statuses.list", "online"); r.Code != keyward.CodeValid {
			t.Fatalf("order statuses on its store: %s", r.Code)
		}
		if r := f.verify(sec, "orders.statuses.list", "main"); r.Code != keyward.CodeStoreNotAllowed {
			t.Fatalf("order statuses on another store: %s", r.Code)
		}
		allowed := 0
		for _, m := range f.Rep.Catalog().Methods() {
			for _, st := range []string{"online", "main", ""} {
				if f.Rep.Verify(sec, m, st).Code == keyward.CodeValid {
					allowed++
					if m.ID != "orders.statuses.list" || st != "online" {
						t.Errorf("%s on %q allowed", m.ID, st)
					}
				}
			}
		}
		if allowed != 1 {
			t.Fatalf("%d allowed requests, want exactly 1", allowed)
		}

		// Disable: refused on the next request; enable: back; delete: gone.
		off, on := false, true
		if _, err := f.Svc.UpdateKey(f.Ctx, thq.ID, keyward.KeyUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if r := f.verify(thq.Secrets[0].Secret, "orders.list", "main"); r.Code != keyward.CodeDisabled {
			t.Fatalf("disabled: %s", r.Code)
		}
		if r := f.verify(re.Secrets[0].Secret, "orders.list", "main"); r.Code != keyward.CodeValid {
			t.Fatalf("disabling THQ touched another key: %s", r.Code)
		}
		if _, err := f.Svc.UpdateKey(f.Ctx, thq.ID, keyward.KeyUpdate{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		if r := f.verify(thq.Secrets[0].Secret, "orders.list", "main"); r.Code != keyward.CodeValid {
			t.Fatalf("re-enabled: %s", r.Code)
		}
		if err := f.Svc.DeleteKey(f.Ctx, thq.ID); err != nil {
			t.Fatal(err)
		}
		if r := f.verify(thq.Secrets[1].Secret, "orders.list", "main"); r.Code != keyward.CodeNotFound {
			t.Fatalf("deleted: %s", r.Code)
		}
	})
}

func TestDecisionTable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		exp := f.Now.Add(time.Hour)
		keys := map[string]*keyward.Key{
			"read orders":     f.CreateKey(keyward.KeyCreate{Name: "r", Permissions: keyward.Permissions{"orders": "read"}}),
			"write orders":    f.CreateKey(keyward.KeyCreate{Name: "w", Permissions: keyward.Permissions{"orders": "write"}}),
			"orders block":    f.CreateKey(keyward.KeyCreate{Name: "b", Permissions: keyward.Permissions{"orders": "write", "products": "write"}, Methods: []string{"Orders"}}),
			"payments list":   f.CreateKey(keyward.KeyCreate{Name: "m", Permissions: keyward.Permissions{"payments": "read"}, Methods: []string{"payments.list"}}),
			"main store only": f.CreateKey(keyward.KeyCreate{Name: "s", Permissions: keyward.Permissions{"orders": "read", "customers": "read"}, Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"main"}}}),
			"expiring":        f.CreateKey(keyward.KeyCreate{Name: "e", Permissions: keyward.Permissions{"orders": "read"}, ExpiresAt: &exp}),
		}
		cases := []struct {
			key, method, store, want string
		}{
			{"read orders", "orders.list", "main", keyward.CodeValid},
			{"read orders", "orders.create", "main", keyward.CodeInsufficientPermission},
			{"read orders", "products.list", "main", keyward.CodeInsufficientPermission},
			{"write orders", "orders.list", "main", keyward.CodeValid},
			{"write orders", "orders.update", "online", keyward.CodeValid},
			{"orders block", "orders.create", "main", keyward.CodeValid},
			{"orders block", "products.list", "main", keyward.CodeMethodNotAllowed},
			{"payments list", "payments.list", "main", keyward.CodeValid},
			{"payments list", "payments.get", "main", keyward.CodeMethodNotAllowed},
			{"payments list", "orders.list", "main", keyward.CodeMethodNotAllowed},
			{"main store only", "orders.list", "main", keyward.CodeValid},
			{"main store only", "orders.list", "online", keyward.CodeStoreNotAllowed},
			{"main store only", "orders.list", "", keyward.CodeStoreRequired},
			{"main store only", "customers.list", "", keyward.CodeValid},
			{"expiring", "orders.list", "main", keyward.CodeValid},
		}
		for _, c := range cases {
			t.Run(c.key+"/"+c.method+"/"+c.store, func(t *testing.T) {
				for _, s := range keys[c.key].Secrets {
					if got := f.verify(s.Secret, c.method, c.store).Code; got != c.want {
						t.Fatalf("slot %d: %s, want %s", s.Slot, got, c.want)
					}
				}
			})
		}
		f.Advance(exp.Sub(f.Now))
		if got := f.verify(keys["expiring"].Secrets[0].Secret, "orders.list", "main").Code; got != keyward.CodeExpired {
			t.Fatalf("at expiry: %s, want EXPIRED", got)
		}
		if got := f.verify("kwk_"+strings.Repeat("A", 49), "orders.list", "main").Code; got != keyward.CodeNotFound {
			t.Fatalf("random key: %s", got)
		}
	})
}

func TestRollKeepsTheOtherSlotAndHonoursGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		k := f.CreateKey(keyward.KeyCreate{Name: "R", Permissions: keyward.Permissions{"orders": "read"}})
		old1, old2 := k.Secrets[0].Secret, k.Secrets[1].Secret

		rolled, err := f.Svc.RollKey(f.Ctx, k.ID, keyward.KeyRoll{Slot: 1, Grace: keyward.Duration(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var new1 string
		for _, s := range rolled.Secrets {
			if s.Secret != "" {
				new1 = s.Secret
			}
		}
		if new1 == "" || new1 == old1 {
			t.Fatal("roll did not return a new secret")
		}
		for name, s := range map[string]string{"new": new1, "old in grace": old1, "other slot": old2} {
			if got := f.verify(s, "orders.list", "main").Code; got != keyward.CodeValid {
				t.Fatalf("%s: %s", name, got)
			}
		}
		f.Advance(time.Hour)
		if got := f.verify(old1, "orders.list", "main").Code; got != keyward.CodeExpired {
			t.Fatalf("old after grace: %s", got)
		}
		if got := f.verify(new1, "orders.list", "main").Code; got != keyward.CodeValid {
			t.Fatalf("new after grace: %s", got)
		}

		rolled, err = f.Svc.RollKey(f.Ctx, k.ID, keyward.KeyRoll{Slot: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.verify(old2, "orders.list", "main").Code; got != keyward.CodeNotFound {
			t.Fatalf("slot 2 rolled without grace: old secret %s, want NOT_FOUND", got)
		}
		if got := f.verify(new1, "orders.list", "main").Code; got != keyward.CodeValid {
			t.Fatalf("rolling slot 2 touched slot 1: %s", got)
		}
		for _, s := range rolled.Secrets {
			if s.Secret != "" {
				if got := f.verify(s.Secret, "orders.list", "main").Code; s.Slot != 2 || got != keyward.CodeValid {
					t.Fatalf("new secret of slot 2: slot %d, %s", s.Slot, got)
				}
			}
		}
		if _, err := f.Svc.RollKey(f.Ctx, k.ID, keyward.KeyRoll{Slot: 3}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("slot 3: %v", err)
		}
	})
}

func TestKeyRulesRefuseBadInputByName(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		cases := []struct {
			name  string
			in    keyward.KeyCreate
			field string
			names string
		}{
			{"unknown resource", keyward.KeyCreate{Name: "a", Permissions: keyward.Permissions{"spaceships": "read"}}, "permissions", "spaceships"},
			{"unknown level", keyward.KeyCreate{Name: "a", Permissions: keyward.Permissions{"orders": "admin"}}, "permissions", "admin"},
			{"unknown method", keyward.KeyCreate{Name: "a", Methods: []string{"orders.teleport"}}, "methods", "orders.teleport"},
			{"unknown block", keyward.KeyCreate{Name: "a", Methods: []string{"Spaceships"}}, "methods", "Spaceships"},
			{"unknown store", keyward.KeyCreate{Name: "a", Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"mars"}}}, "stores", "mars"},
			{"bad access", keyward.KeyCreate{Name: "a", Stores: keyward.StoreAccess{Access: "some"}}, "stores", "some"},
			{"bad name", keyward.KeyCreate{Name: "has space"}, "name", "has space"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := f.Svc.CreateKey(f.Ctx, c.in)
				var e *keyward.Error
				if keyward.ErrorCode(err) != keyward.EInvalid || !asError(err, &e) || e.Field != c.field || !strings.Contains(e.Message, c.names) {
					t.Fatalf("got %v, want invalid_argument on %s naming %q", err, c.field, c.names)
				}
			})
		}
		f.CreateKey(keyward.KeyCreate{Name: "dup"})
		if _, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "dup"}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("duplicate name: %v", err)
		}
		page, err := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{})
		if err != nil || len(page.Data) != 1 {
			t.Fatalf("refused creates left keys behind: %d, %v", len(page.Data), err)
		}
	})
}

func TestLicenceGatesKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		k := f.CreateKey(keyward.KeyCreate{Name: "L", Permissions: keyward.Permissions{"orders": "read"}})
		if _, err := f.Svc.RevokeLicence(f.Op, "demo"); err != nil {
			t.Fatal(err)
		}
		if got := f.verify(k.Secrets[0].Secret, "orders.list", "main").Code; got != keyward.CodeLicenceInactive {
			t.Fatalf("verify without licence: %s", got)
		}
		_, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "M"})
		if keyward.ErrorCode(err) != keyward.ELicenceRequired || !strings.Contains(keyward.ErrorMessage(err), "sales@platform.test") {
			t.Fatalf("create without licence: %v", err)
		}
		off := false
		if _, err := f.Svc.UpdateKey(f.Ctx, k.ID, keyward.KeyUpdate{Enabled: &off}); err != nil {
			t.Fatalf("disabling must work without a licence: %v", err)
		}
		two := 2
		if _, err := f.Svc.GrantLicence(f.Op, "demo", keyward.LicenceGrant{MaxKeys: &two}); err != nil {
			t.Fatal(err)
		}
		f.CreateKey(keyward.KeyCreate{Name: "N"})
		if _, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "O"}); keyward.ErrorCode(err) != keyward.ELimitExceeded {
			t.Fatalf("third key under a limit of 2: %v", err)
		}
	})
}

func TestTenThousandKeysListedByEachFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 keys per engine")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		tenThousand := 10000
		if _, err := f.Svc.GrantLicence(f.Op, "demo", keyward.LicenceGrant{MaxKeys: &tenThousand}); err != nil {
			t.Fatal(err)
		}
		// i%4: 0 all stores enabled, 1 main only, 2 online only disabled, 3 both selected
		want := map[string]int{}
		for i := 0; i < tenThousand; i++ {
			in := keyward.KeyCreate{Name: fmt.Sprintf("k%05d", i), Permissions: keyward.Permissions{"orders": "read"}}
			switch i % 4 {
			case 1:
				in.Stores = keyward.StoreAccess{Access: "selected", IDs: []string{"main"}}
			case 2:
				in.Stores = keyward.StoreAccess{Access: "selected", IDs: []string{"online"}}
				off := false
				in.Enabled = &off
			case 3:
				in.Stores = keyward.StoreAccess{Access: "selected", IDs: []string{"main", "online"}}
			}
			if _, err := f.Svc.CreateKey(f.Ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		want["all"] = tenThousand
		off, on := false, true
		cases := []struct {
			name   string
			filter keyward.KeyFilter
			want   int
		}{
			{"no filter", keyward.KeyFilter{}, tenThousand},
			{"enabled", keyward.KeyFilter{Enabled: &on}, tenThousand * 3 / 4},
			{"disabled", keyward.KeyFilter{Enabled: &off}, tenThousand / 4},
			{"all stores", keyward.KeyFilter{Access: "all"}, tenThousand / 4},
			{"selected stores", keyward.KeyFilter{Access: "selected"}, tenThousand * 3 / 4},
			{"store main", keyward.KeyFilter{StoreID: "main"}, tenThousand * 3 / 4},
			{"store online, enabled, selected", keyward.KeyFilter{StoreID: "online", Enabled: &on, Access: "selected"}, tenThousand / 4},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				fl := c.filter
				fl.Limit = 500
				seen := map[string]bool{}
				for {
					p, err := f.Svc.ListKeys(f.Ctx, fl)
					if err != nil {
						t.Fatal(err)
					}
					for _, k := range p.Data {
						if seen[k.ID] {
							t.Fatalf("key %s listed twice", k.ID)
						}
						seen[k.ID] = true
						for _, s := range k.Secrets {
							if s.Secret != "" {
								t.Fatal("a list holds a secret")
							}
						}
					}
					if p.NextCursor == "" {
						break
					}
					fl.After = p.NextCursor
				}
				if len(seen) != c.want {
					t.Fatalf("%d keys, want %d", len(seen), c.want)
				}
			})
		}
	})
}
