package service_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Names that read one way and are another are refused everywhere a name
// or a description is written, and the refusal creates nothing.
func TestInvisibleAndBidiCharactersRefusedInNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		m, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{
			"Invoice\u202Efdp.exe", // right-to-left override
			"TH\u200BQ",            // zero-width space
			"Acme\u200D",           // zero-width joiner
			"\uFEFFAcme",           // byte order mark
			"Ac\u2066me\u2069",     // isolate
			"Acme\u2028Ltd",        // line separator
			"\u3164",               // a blank letter
			"Acme\u0085",           // a control character beyond ASCII
		} {
			creates := map[string]func() error{
				"store": func() error {
					_, err := f.Svc.CreateStore(f.Ctx, keyward.StoreCreate{Code: "x", Name: bad})
					return err
				},
				"profile": func() error {
					_, err := f.Svc.CreateProfile(f.Ctx, keyward.ProfileCreate{Name: bad})
					return err
				},
				"merchant": func() error {
					_, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: bad})
					return err
				},
				"merchant user": func() error {
					_, err := f.Svc.CreateMerchantUser(f.Ctx, m.ID, keyward.MerchantUserCreate{Email: "u@acme.test", Name: bad, Level: 1})
					return err
				},
				"user": func() error {
					_, _, err := f.Svc.CreateUser(f.Ctx, keyward.UserCreate{Email: "u@demo.test", Name: bad, ProfileID: "Administrator"})
					return err
				},
				"key description": func() error {
					_, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "k", Description: bad})
					return err
				},
				"webhook description": func() error {
					_, err := f.Svc.CreateWebhook(f.Ctx, keyward.WebhookCreate{Store: "main", URL: "https://example.com/h", Events: []string{"*"}, Description: bad})
					return err
				},
				"merchant rename": func() error {
					_, err := f.Svc.UpdateMerchant(f.Ctx, m.ID, keyward.MerchantUpdate{Name: &bad})
					return err
				},
			}
			for what, create := range creates {
				if err := create(); keyward.ErrorCode(err) != keyward.EInvalid {
					t.Errorf("%s %q: %v, want invalid_argument", what, bad, err)
				}
			}
		}
		stores, _ := f.Svc.ListStores(f.Ctx)
		merchants, _ := f.Svc.ListMerchants(f.Ctx)
		keys, _ := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{})
		hooks, _ := f.Svc.ListWebhooks(f.Ctx, "")
		if len(merchants) != 1 || merchants[0].Name != "Acme" || len(keys.Data) != 0 || len(hooks) != 0 {
			t.Fatalf("refusals left records: %d stores, %d merchants, %d keys, %d webhooks", len(stores), len(merchants), len(keys.Data), len(hooks))
		}
		for _, st := range stores {
			if st.Code == "x" {
				t.Fatal("a refused store was created")
			}
		}
	})
}

// Names are unique in a tenant without regard to case, on creation and
// on renaming; a record may keep its own name in another case.
func TestNamesUniqueWithoutRegardToCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.CreateKey(keyward.KeyCreate{Name: "THQ"})
		if _, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "thq"}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("key thq beside THQ: %v", err)
		}
		other := f.CreateKey(keyward.KeyCreate{Name: "Other"})
		thq := "Thq"
		if _, err := f.Svc.UpdateKey(f.Ctx, other.ID, keyward.KeyUpdate{Name: &thq}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("key renamed to Thq beside THQ: %v", err)
		}
		upper := "OTHER"
		if k, err := f.Svc.UpdateKey(f.Ctx, other.ID, keyward.KeyUpdate{Name: &upper}); err != nil || k.Name != "OTHER" {
			t.Fatalf("key renamed to its own name in capitals: %v", err)
		}

		if _, err := f.Svc.CreateProfile(f.Ctx, keyward.ProfileCreate{Name: "Support Staff"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.CreateProfile(f.Ctx, keyward.ProfileCreate{Name: "SUPPORT staff"}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("profile SUPPORT staff beside Support Staff: %v", err)
		}
		if _, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: "Ölmühle"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: "ÖLMÜHLE"}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("merchant ÖLMÜHLE beside Ölmühle: %v", err)
		}
		b, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: "Beta"})
		if err != nil {
			t.Fatal(err)
		}
		name := "ölmühle"
		if _, err := f.Svc.UpdateMerchant(f.Ctx, b.ID, keyward.MerchantUpdate{Name: &name}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("merchant renamed to ölmühle beside Ölmühle: %v", err)
		}
		keys, _ := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{})
		merchants, _ := f.Svc.ListMerchants(f.Ctx)
		if len(keys.Data) != 2 || len(merchants) != 2 {
			t.Fatalf("%d keys and %d merchants, want 2 and 2", len(keys.Data), len(merchants))
		}
	})
}
