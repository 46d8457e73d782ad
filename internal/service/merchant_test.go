package service_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

func TestMerchantAPIAccessRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		m, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: "Acme Couriers", Stores: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		jobsCreate, _ := f.Rep.Catalog().Method("jobs.create")
		ordersList, _ := f.Rep.Catalog().Method("orders.list")

		// Level 1: the toggle is refused with a clear error.
		_, err = f.Svc.CreateMerchantUser(f.Ctx, m.ID, keyward.MerchantUserCreate{Email: "l1@acme.test", Level: 1, APIAccess: true})
		if keyward.ErrorCode(err) != keyward.EInvalid || !strings.Contains(keyward.ErrorMessage(err), "Level 2") {
			t.Fatalf("level 1 with API access: %v", err)
		}
		l1, err := f.Svc.CreateMerchantUser(f.Ctx, m.ID, keyward.MerchantUserCreate{Email: "l1@acme.test", Level: 1})
		if err != nil {
			t.Fatal(err)
		}
		on := true
		if _, err := f.Svc.UpdateMerchantUser(f.Ctx, m.ID, l1.ID, keyward.MerchantUserUpdate{APIAccess: &on}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("turning API access on for Level 1: %v", err)
		}

		// Level 2: Account ID and Auth Key, the key shown once.
		u, err := f.Svc.CreateMerchantUser(f.Ctx, m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.AccountID, "acc_") || !strings.HasPrefix(u.AuthKey, "kwm_") {
			t.Fatalf("credentials: %q %q", u.AccountID, u.AuthKeyHint)
		}
		if r := f.Rep.VerifyMerchant(u.AccountID, u.AuthKey, jobsCreate, ""); r.Code != keyward.CodeValid || r.Cred.MerchantID() != m.ID {
			t.Fatalf("merchant on jobs.create: %s", r.Code)
		}
		if r := f.Rep.VerifyMerchant(u.AccountID, u.AuthKey, ordersList, "main"); r.Code == keyward.CodeValid {
			t.Fatal("merchant allowed orders.list")
		}
		if r := f.Rep.VerifyMerchant("acc_other", u.AuthKey, jobsCreate, ""); r.Code != keyward.CodeNotFound {
			t.Fatalf("wrong account id: %s", r.Code)
		}
		if r := f.Rep.Verify(u.AuthKey, jobsCreate, ""); r.Code != keyward.CodeNotFound {
			t.Fatalf("a merchant key used as an API key: %s", r.Code)
		}
		list, err := f.Svc.ListMerchantAPIAccess(f.Ctx)
		if err != nil || len(list) != 1 || list[0].AccountID != u.AccountID || list[0].MerchantName != "Acme Couriers" {
			t.Fatalf("api-access list: %+v %v", list, err)
		}
		raw := strings.Join([]string{list[0].AccountID, list[0].AuthKeyHint, list[0].Email}, " ")
		if strings.Contains(raw, u.AuthKey) {
			t.Fatal("the API access list shows the auth key")
		}

		// The merchant reads its own credentials, not another's.
		actor, _, err := f.Svc.AuthenticateMerchant(f.Ctx, u.AccountID, u.AuthKey, "test")
		if err != nil {
			t.Fatal(err)
		}
		mctx := keyward.WithActor(f.Ctx, actor)
		self, err := f.Svc.MerchantSelf(mctx)
		if err != nil || self.ID != u.ID || self.AuthKey != "" {
			t.Fatalf("self: %+v %v", self, err)
		}
		if _, err := f.Svc.ListMerchantAPIAccess(mctx); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("merchant listing every account: %v", err)
		}
		if _, err := f.Svc.ListWebhooks(mctx, ""); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("merchant on webhooks: %v", err)
		}
		if _, err := f.Svc.CreateWebhook(mctx, keyward.WebhookCreate{Store: "main", URL: "https://x.test/h", Events: []string{"*"}}); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("merchant creating a webhook: %v", err)
		}

		// Regenerate: the old key stops at once.
		re, err := f.Svc.RegenerateMerchantAuthKey(f.Ctx, m.ID, u.ID, keyward.AuthKeyRegenerate{})
		if err != nil {
			t.Fatal(err)
		}
		if r := f.Rep.VerifyMerchant(u.AccountID, u.AuthKey, jobsCreate, ""); r.Code != keyward.CodeNotFound {
			t.Fatalf("old auth key after regenerate: %s", r.Code)
		}
		if re.AccountID != u.AccountID {
			t.Fatal("regenerating changed the Account ID")
		}

		// Level 2 -> 1: API access is lost at once.
		one := 1
		moved, err := f.Svc.UpdateMerchantUser(f.Ctx, m.ID, u.ID, keyward.MerchantUserUpdate{Level: &one})
		if err != nil {
			t.Fatal(err)
		}
		if moved.APIAccess {
			t.Fatal("a Level 1 user kept API access")
		}
		if r := f.Rep.VerifyMerchant(u.AccountID, re.AuthKey, jobsCreate, ""); r.Code != keyward.CodeNotFound {
			t.Fatalf("after moving to Level 1: %s", r.Code)
		}

		// Deactivate from the API access list.
		v, _ := f.Svc.CreateMerchantUser(f.Ctx, m.ID, keyward.MerchantUserCreate{Email: "v@acme.test", Level: 2, APIAccess: true})
		if err := f.Svc.DeactivateMerchantAPIAccess(f.Ctx, v.AccountID); err != nil {
			t.Fatal(err)
		}
		if r := f.Rep.VerifyMerchant(v.AccountID, v.AuthKey, jobsCreate, ""); r.Code != keyward.CodeNotFound {
			t.Fatalf("after deactivation: %s", r.Code)
		}
	})
}
