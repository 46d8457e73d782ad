package webhook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// expiringData is the data of key.expiring.
type expiringData struct {
	Kind         string    `json:"kind"`
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	DisplayName  string    `json:"display_name"`
	ExpiresAt    time.Time `json:"expires_at"`
	Threshold    string    `json:"threshold"`
	KeyID        string    `json:"key_id"`
	Slot         int       `json:"slot"`
	UserID       string    `json:"user_id"`
	APIAccountID string    `json:"api_account_id"`
}

// lifecycle runs the lifecycle job as the node does.
func (f *fixture) lifecycle(svc *service.Service) service.LifecycleRun {
	f.t.Helper()
	run, err := svc.RunLifecycle(keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem}))
	if err != nil {
		f.t.Fatal(err)
	}
	return run
}

func expiring(t *testing.T, d delivery) expiringData {
	t.Helper()
	p := decode(t, d)
	if p.Type != "key.expiring" {
		t.Fatalf("got %s, want key.expiring: %s", p.Type, d.body)
	}
	var e expiringData
	if err := json.Unmarshal(p.Data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// A key's expiry is told to its tenant's endpoints 7 days and 1 day
// ahead, each once: a second run, or another node over the same database,
// sends nothing more.
func TestKeyExpiringIsSentAtEachThresholdOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.endpoint(keyward.WebhookCreate{Events: []string{"key.expiring"}})
		exp := f.clock.now().Add(8 * 24 * time.Hour).Truncate(time.Second)
		k, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}, ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		other := service.New(db, catalog.Builtin(), service.WithClock(f.clock.now))

		if run := f.lifecycle(f.svc); run.Warned != 0 {
			t.Fatalf("8 days ahead: %+v, want no warning", run)
		}
		f.clock.advance(25 * time.Hour)
		if run := f.lifecycle(f.svc); run.Warned != 1 {
			t.Fatalf("within 7 days: %+v, want one warning", run)
		}
		if run := f.lifecycle(f.svc); run.Warned != 0 {
			t.Fatalf("run again: %+v, want none", run)
		}
		if run := f.lifecycle(other); run.Warned != 0 {
			t.Fatalf("another node: %+v, want none", run)
		}
		got := expiring(t, f.rcv.wait(1)[0])
		if got.Kind != keyward.CredentialKey || got.ID != k.ID || got.Name != "THQ" || got.DisplayName != "demo-THQ" ||
			!got.ExpiresAt.Equal(exp) || got.Threshold != "7d" {
			t.Fatalf("first warning: %+v", got)
		}
		f.rcv.quiet()

		f.clock.advance(6 * 24 * time.Hour)
		if run := f.lifecycle(other); run.Warned != 1 {
			t.Fatalf("within a day: %+v, want one warning", run)
		}
		if run := f.lifecycle(f.svc); run.Warned != 0 {
			t.Fatalf("run again: %+v, want none", run)
		}
		all := f.rcv.wait(1)
		if got := expiring(t, all[1]); got.ID != k.ID || got.Threshold != "1d" {
			t.Fatalf("second warning: %+v", got)
		}

		// A new expiry is warned about again.
		later := f.clock.now().Add(3 * 24 * time.Hour).Truncate(time.Second)
		if _, err := f.svc.UpdateKey(f.ctx, k.ID, keyward.KeyUpdate{ExpiresAt: keyward.SetTime(later)}); err != nil {
			t.Fatal(err)
		}
		if run := f.lifecycle(f.svc); run.Warned != 1 {
			t.Fatalf("after a new expiry: %+v, want one warning", run)
		}
		if got := expiring(t, f.rcv.wait(1)[2]); !got.ExpiresAt.Equal(later) || got.Threshold != "7d" {
			t.Fatalf("warning of the new expiry: %+v", got)
		}
		f.rcv.quiet()
	})
}

// A secret kept for a roll's grace period, a personal access token and a
// merchant Auth Key kept after a new one was generated are warned about
// too, each named by its kind.
func TestKeyExpiringNamesEveryKindOfCredential(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.endpoint(keyward.WebhookCreate{Events: []string{"key.expiring"}})
		k, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RollKey(f.ctx, k.ID, keyward.KeyRoll{Slot: 2, Grace: keyward.Duration(48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		texp := f.clock.now().Add(20 * time.Hour)
		tok, _, err := f.svc.CreateToken(f.ctx, "admin@demo.test", keyward.TokenCreate{Name: "ci", ExpiresAt: &texp})
		if err != nil {
			t.Fatal(err)
		}
		m, err := f.svc.CreateMerchant(f.ctx, keyward.MerchantCreate{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		u, err := f.svc.CreateMerchantUser(f.ctx, m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RegenerateMerchantAuthKey(f.ctx, m.ID, u.ID, keyward.AuthKeyRegenerate{Grace: keyward.Duration(72 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if run := f.lifecycle(f.svc); run.Warned != 3 {
			t.Fatalf("run: %+v, want 3 warnings", run)
		}
		byKind := map[string]expiringData{}
		for _, d := range f.rcv.wait(3) {
			e := expiring(t, d)
			byKind[e.Kind] = e
		}
		if e := byKind[keyward.CredentialSecret]; e.KeyID != k.ID || e.Slot != 2 || e.Threshold != "7d" || e.DisplayName != "demo-THQ" {
			t.Errorf("secret: %+v", e)
		}
		if e := byKind[keyward.CredentialToken]; e.ID != tok.ID || e.Name != "ci" || e.UserID != tok.UserID || e.Threshold != "1d" {
			t.Errorf("token: %+v", e)
		}
		if e := byKind[keyward.CredentialMerchantKey]; e.ID != u.ID || e.APIAccountID != u.AccountID || e.Threshold != "7d" {
			t.Errorf("merchant Auth Key: %+v", e)
		}
		f.rcv.quiet()
	})
}

// Under an inactivity rule an unused key is reported the day before and
// disabled on the day, audited and sent as key.disabled with reason
// "inactivity"; a key in use is left alone.
func TestUnusedKeysAreReportedThenDisabled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.endpoint(keyward.WebhookCreate{Events: []string{"key.inactive_soon", "key.disabled"}})
		idle, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "Idle", Permissions: keyward.Permissions{"orders": "read"}})
		if err != nil {
			t.Fatal(err)
		}
		busy, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "Busy", Permissions: keyward.Permissions{"orders": "read"}})
		if err != nil {
			t.Fatal(err)
		}
		thirty := 30
		if _, err := f.svc.UpdateKeyPolicy(f.ctx, keyward.KeyPolicyUpdate{InactiveDays: &thirty}); err != nil {
			t.Fatal(err)
		}
		touch := func() {
			t.Helper()
			err := db.Write(context.Background(), func(q *store.Q) error {
				return q.TouchKeySecret(context.Background(), busy.Secrets[0].Digest, f.clock.now(), "203.0.113.7")
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		f.clock.advance(28 * 24 * time.Hour)
		touch()
		if run := f.lifecycle(f.svc); run.Reported != 0 || run.Disabled != 0 {
			t.Fatalf("day 28: %+v, want nothing", run)
		}
		f.clock.advance(24*time.Hour + time.Minute)
		if run := f.lifecycle(f.svc); run.Reported != 1 || run.Disabled != 0 {
			t.Fatalf("day 29: %+v, want one report", run)
		}
		if run := f.lifecycle(f.svc); run.Reported != 0 {
			t.Fatalf("day 29 again: %+v, want none", run)
		}
		p := decode(t, f.rcv.wait(1)[0])
		var soon struct {
			Key struct {
				ID string `json:"id"`
			} `json:"key"`
			DisableAt    time.Time `json:"disable_at"`
			InactiveDays int       `json:"inactive_days"`
		}
		if err := json.Unmarshal(p.Data, &soon); err != nil {
			t.Fatal(err)
		}
		// Due at day 30, and at least a day after the report.
		if p.Type != "key.inactive_soon" || soon.Key.ID != idle.ID || soon.InactiveDays != 30 || !soon.DisableAt.Equal(f.clock.now().Add(24*time.Hour)) {
			t.Fatalf("report: %s", p.Data)
		}
		// Sent and acknowledged before the clock moves on a day.
		f.rcv.quiet()

		f.clock.advance(24 * time.Hour)
		touch()
		if run := f.lifecycle(f.svc); run.Disabled != 1 {
			t.Fatalf("day 30: %+v, want one key disabled", run)
		}
		if k, err := f.svc.Key(f.ctx, idle.ID); err != nil || k.Enabled {
			t.Fatalf("idle key after day 30: %+v, %v", k, err)
		}
		if k, err := f.svc.Key(f.ctx, busy.ID); err != nil || !k.Enabled {
			t.Fatalf("busy key after day 30: %+v, %v", k, err)
		}
		p = decode(t, f.rcv.wait(1)[1])
		var off struct {
			Key struct {
				ID      string `json:"id"`
				Enabled bool   `json:"enabled"`
			} `json:"key"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(p.Data, &off); err != nil {
			t.Fatal(err)
		}
		if p.Type != "key.disabled" || off.Key.ID != idle.ID || off.Key.Enabled || off.Reason != "inactivity" {
			t.Fatalf("disabled: %s %s", p.Type, p.Data)
		}
		audit, err := f.svc.ListAudit(f.ctx, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if e := audit.Data[0]; e.Action != "key.disable" || e.ObjectID != idle.ID || e.Actor != "system" || e.Changes["reason"] != "inactivity" {
			t.Fatalf("audit: %+v", e)
		}

		// Enabled again, the key counts afresh.
		on := true
		if _, err := f.svc.UpdateKey(f.ctx, idle.ID, keyward.KeyUpdate{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		if run := f.lifecycle(f.svc); run.Reported+run.Disabled != 0 {
			t.Fatalf("after enabling again: %+v, want nothing", run)
		}
		f.rcv.quiet()
	})
}

// A rule set when keys have long been unused reports them first and
// disables none sooner than a day after the report.
func TestInactivityRuleGivesADayOfNotice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		old, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "Old", Permissions: keyward.Permissions{"orders": "read"}})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.advance(90 * 24 * time.Hour)
		ten := 10
		if _, err := f.svc.UpdateKeyPolicy(f.ctx, keyward.KeyPolicyUpdate{InactiveDays: &ten}); err != nil {
			t.Fatal(err)
		}
		if run := f.lifecycle(f.svc); run.Reported != 1 || run.Disabled != 0 {
			t.Fatalf("first run: %+v, want a report only", run)
		}
		f.clock.advance(23 * time.Hour)
		if run := f.lifecycle(f.svc); run.Disabled != 0 {
			t.Fatalf("23 hours later: %+v, want none disabled", run)
		}
		f.clock.advance(time.Hour)
		if run := f.lifecycle(f.svc); run.Disabled != 1 {
			t.Fatalf("a day later: %+v, want the key disabled", run)
		}
		if k, err := f.svc.Key(f.ctx, old.ID); err != nil || k.Enabled {
			t.Fatalf("key: %+v, %v", k, err)
		}
	})
}
