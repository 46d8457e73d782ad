package service_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

func TestKeyMethodsThePermissionsCannotAllowAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		for _, tc := range []struct {
			name   string
			in     keyward.KeyCreate
			method string
		}{
			{"write method under read", keyward.KeyCreate{Name: "a", Permissions: keyward.Permissions{"orders": "read"}, Methods: []string{"orders.create"}}, "orders.create"},
			{"method without permission", keyward.KeyCreate{Name: "b", Permissions: keyward.Permissions{}, Methods: []string{"payments.list"}}, "payments.list"},
			{"one bad among good", keyward.KeyCreate{Name: "c", Permissions: keyward.Permissions{"orders": "read"}, Methods: []string{"orders.list", "orders.update"}}, "orders.update"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.Svc.CreateKey(f.Ctx, tc.in)
				var e *keyward.Error
				if !errors.As(err, &e) || e.Code != keyward.EInvalid || e.Field != "methods" || e.Details["method"] != tc.method {
					t.Fatalf("create: %v, want invalid_argument on methods naming %s", err, tc.method)
				}
				// Nothing was written: the name is still free.
				f.CreateKey(keyward.KeyCreate{Name: tc.in.Name, Permissions: keyward.Permissions{"orders": "write"}})
			})
		}

		// A block under read keeps the block's read methods only.
		k := f.CreateKey(keyward.KeyCreate{Name: "blk", Permissions: keyward.Permissions{"orders": "read"}, Methods: []string{"Orders"}})
		if len(k.Methods) == 0 || len(k.Warnings) != 0 {
			t.Fatalf("orders block under read: methods %v, warnings %v", k.Methods, k.Warnings)
		}
		for _, id := range k.Methods {
			m, _ := f.Rep.Catalog().Method(id)
			if m.Access != keyward.LevelRead {
				t.Fatalf("the block kept %s, a write method, under read", id)
			}
		}
		// A block the permissions allow nothing of is refused.
		if _, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "blk2", Permissions: keyward.Permissions{"customers": "read"}, Methods: []string{"Orders"}}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("block with no allowed method: %v", err)
		}

		// Changing permissions under an allowlist is checked too.
		read := keyward.Permissions{"orders": "read"}
		w := f.CreateKey(keyward.KeyCreate{Name: "upd", Permissions: keyward.Permissions{"orders": "write"}, Methods: []string{"orders.create"}})
		if _, err := f.Svc.UpdateKey(f.Ctx, w.ID, keyward.KeyUpdate{Permissions: &read}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("lowering orders to read under orders.create: %v", err)
		}
	})
}

func TestKeyThatCanCallNothingIsWarnedAbout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		k := f.CreateKey(keyward.KeyCreate{Name: "empty"})
		if len(k.Warnings) != 1 || !strings.Contains(k.Warnings[0], "can call nothing") {
			t.Fatalf("a key with no permissions: warnings %v", k.Warnings)
		}
		ok := f.CreateKey(keyward.KeyCreate{Name: "fine", Permissions: keyward.Permissions{"orders": "read"}})
		if len(ok.Warnings) != 0 {
			t.Fatalf("a working key is warned about: %v", ok.Warnings)
		}
		if got := f.Svc.KeyWarnings(k); len(got) != 1 {
			t.Fatalf("KeyWarnings of the empty key: %v", got)
		}
	})
}
