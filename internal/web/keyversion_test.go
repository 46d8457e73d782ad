package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/keyward/keyward"
)

var versionField = regexp.MustCompile(`name="version" value="([^"]+)"`)

// formVersion returns the key version the edit form carries.
func formVersion(t *testing.T, res *response) string {
	t.Helper()
	m := versionField.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("the key form carries no version\n%s", res.Body)
	}
	return html.UnescapeString(m[1])
}

// Two administrators open one key's form; the second to save is told
// that someone else changed the key, and nothing of theirs is saved until
// they save again.
func TestKeyFormSaysSomeoneElseChangedTheKey(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "shared", Permissions: keyward.Permissions{"orders": keyward.LevelRead}})
	ana, ben := e.client(), e.client()
	ana.signIn(e.demo.Email, e.demo.Password)
	ben.signIn(e.demo.Email, e.demo.Password)
	edit := pathKeys + "/" + k.ID + "/edit"
	anaForm, benForm := ana.get(edit), ben.get(edit)
	wantStatus(t, anaForm, http.StatusOK)
	form := func(desc, version string) url.Values {
		return url.Values{"name": {"shared"}, "description": {desc}, "enabled": {"true"}, "perm.orders": {"read"},
			"stores_access": {"all"}, "methods_mode": {"all"}, "version": {version}}
	}

	wantStatus(t, ana.post(edit, form("Ana's", formVersion(t, anaForm))), http.StatusSeeOther)

	res := ben.post(edit, form("Ben's", formVersion(t, benForm)))
	wantStatus(t, res, http.StatusPreconditionFailed)
	wantBody(t, res, "Someone else changed this key", `value="Ben&#39;s"`)
	if got, _ := e.svc.Key(e.sys, k.ID); got.Description != "Ana's" {
		t.Fatalf("a stale form was saved: description %q", got.Description)
	}

	// The refused form carries the current version: saving again applies.
	wantStatus(t, ben.post(edit, form("Ben's", formVersion(t, res))), http.StatusSeeOther)
	if got, _ := e.svc.Key(e.sys, k.ID); got.Description != "Ben's" {
		t.Fatalf("saving again did not apply: description %q", got.Description)
	}
}

// The key form reads "none" as no access, as the API and the CLI do.
func TestKeyFormReadsNoneAsNoAccess(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.post(pathKeys, url.Values{"name": {"nonePerm"}, "enabled": {"true"}, "perm.orders": {"read"}, "perm.payments": {"none"},
		"stores_access": {"all"}, "methods_mode": {"all"}})
	if res.StatusCode >= 400 {
		t.Fatalf("a form with payments none: %d\n%s", res.StatusCode, res.Body)
	}
	p, err := e.svc.ListKeys(e.sys, keyward.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range p.Data {
		if k.Name == "nonePerm" {
			if _, ok := k.Permissions["payments"]; ok || k.Permissions["orders"] != keyward.LevelRead {
				t.Errorf("permissions %v, want orders read only", k.Permissions)
			}
			return
		}
	}
	t.Fatal("the key was not created")
}
