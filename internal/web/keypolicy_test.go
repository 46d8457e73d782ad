package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// Settings > Key Policy sets the leak policy: an administrator's choice is
// kept, audited and shown again; a choice that is no choice is refused
// beside the radio group; staff without API management cannot change it.
func TestKeyPolicyPageSetsTheLeakPolicy(t *testing.T) {
	e := newEnv(t, false)
	leakPolicy := func() string {
		t.Helper()
		p, err := e.svc.LeakPolicy(e.sys)
		if err != nil {
			t.Fatal(err)
		}
		return p.OnLeak
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathKeyPolicy)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "When a secret is reported leaked", "Disable it at once (recommended)",
		"Only notify (webhook key.leaked, banner on the key)", `value="disable" checked`)

	res = c.post(pathLeakPolicy, url.Values{"on_leak": {keyward.LeakPolicyNotify}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := leakPolicy(); got != keyward.LeakPolicyNotify {
		t.Fatalf("after saving notify the leak policy is %q", got)
	}
	res = c.get(pathKeyPolicy)
	wantBody(t, res, "The leak policy is saved.", `value="notify" checked`)
	if strings.Contains(res.Body, `value="disable" checked`) {
		t.Fatal("both choices are checked")
	}
	audit, err := e.svc.ListAudit(e.sys, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var entry *keyward.AuditEntry
	for _, a := range audit.Data {
		if a.Action == "tenant.leak_policy" {
			entry = a
			break
		}
	}
	if entry == nil || entry.Actor != e.demo.Email || entry.Changes["on_leak"] != keyward.LeakPolicyNotify {
		t.Fatalf("no audit entry of the change by %s: %+v", e.demo.Email, entry)
	}

	// The key rules' form leaves the leak policy alone.
	res = c.post(pathKeyPolicy, url.Values{"max_lifetime_days": {"90"}, "inactive_days": {"0"}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := leakPolicy(); got != keyward.LeakPolicyNotify {
		t.Fatalf("saving the key rules changed the leak policy to %q", got)
	}

	for _, bad := range []string{"", "ignore"} {
		res = c.post(pathLeakPolicy, url.Values{"on_leak": {bad}})
		wantStatus(t, res, http.StatusBadRequest)
		wantBody(t, res, `id="on-leak-error"`, "Choose what keyward does when a secret is reported leaked.", `aria-describedby="on-leak-error"`)
		if got := leakPolicy(); got != keyward.LeakPolicyNotify {
			t.Fatalf("a refused choice %q changed the leak policy to %q", bad, got)
		}
	}

	e.staff("viewer@demo.test", keyward.FeatureAudit)
	v := e.client()
	v.signIn("viewer@demo.test", staffPassword)
	wantStatus(t, v.get(pathKeyPolicy), http.StatusForbidden)
	wantStatus(t, v.post(pathLeakPolicy, url.Values{"on_leak": {keyward.LeakPolicyDisable}}), http.StatusForbidden)
	if got := leakPolicy(); got != keyward.LeakPolicyNotify {
		t.Fatalf("staff without API management changed the leak policy to %q", got)
	}
}
