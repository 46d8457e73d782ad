package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// credential is one caller of the access matrix.
type credential struct {
	name    string
	id      string // the key or merchant user id the upstream sees
	apply   func(*http.Request)
	allowed func(m *catalog.Method) bool
}

// platform is the demo tenant with keys and merchants, the gateway, and
// the demo platform API behind it recording what reached it.
type platform struct {
	*keywardtest.Platform
	gw      *httptest.Server
	mu      sync.Mutex
	reached map[string]bool // "<key or merchant user id> <method id>"
}

func newPlatform(t *testing.T, db *store.DB) *platform {
	t.Helper()
	p := &platform{Platform: keywardtest.New(t, db), reached: map[string]bool{}}
	key := bytes.Repeat([]byte("k"), 32)
	api := demoapi.New(demoapi.Options{IdentityKey: key})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reached[r.Header.Get(identity.HeaderKeyID)+" "+r.Header.Get(identity.HeaderMethod)] = true
		p.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	proxy, err := gateway.NewProxy(gateway.ProxyConfig{Upstream: u, Replica: p.Rep, IdentityKey: key})
	if err != nil {
		t.Fatal(err)
	}
	p.gw = httptest.NewServer(proxy)
	t.Cleanup(p.gw.Close)
	return p
}

// send makes a request through the gateway and decodes its JSON answer.
func (p *platform) send(req *http.Request, apply func(*http.Request)) (int, map[string]any) {
	p.TB.Helper()
	u, _ := url.Parse(p.gw.URL + req.URL.RequestURI())
	req.URL, req.Host, req.RequestURI = u, u.Host, ""
	apply(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.TB.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(res.Body)
	json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

func withKey(secret string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("X-API-Key", secret) }
}

func withMerchant(u *keyward.MerchantUser) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(u.AccountID, u.AuthKey) }
}

func TestAccessMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPlatform(t, db)
		cat := p.Rep.Catalog()
		var creds []credential

		// Keys with each permission set: read, then write, on each resource.
		for _, res := range cat.Resources() {
			for _, lvl := range []keyward.Level{keyward.LevelRead, keyward.LevelWrite} {
				k := p.CreateKey(keyward.KeyCreate{Name: res + "-" + string(lvl), Permissions: keyward.Permissions{res: lvl}})
				creds = append(creds, credential{k.Name, k.ID, withKey(k.Secrets[0].Secret), func(m *catalog.Method) bool {
					return m.Resource == res && lvl.Allows(m.Access)
				}})
			}
		}
		// A key with every permission restricted to the online store, called on main.
		all := keyward.Permissions{}
		for _, res := range cat.Resources() {
			all[res] = keyward.LevelWrite
		}
		online := p.CreateKey(keyward.KeyCreate{Name: "online-only", Permissions: all, Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"online"}}})
		creds = append(creds, credential{"online-only on main", online.ID, withKey(online.Secrets[1].Secret), func(m *catalog.Method) bool {
			return m.Store.In == catalog.StoreNone
		}})
		// Merchants may list, search and create jobs and actions; the seed
		// records are not theirs, so get, update and delete are refused, as
		// is an action naming a seed job (TestMerchantReferences has more).
		a := p.MerchantUser("Merchant A", "a@merchant.test")
		b := p.MerchantUser("Merchant B", "b@merchant.test")
		merchantAllowed := func(m *catalog.Method) bool {
			return m.Merchant && m.Owner.Kind != catalog.OwnerRecord && len(m.References) == 0
		}
		creds = append(creds, credential{"merchant A", a.ID, withMerchant(a), merchantAllowed}, credential{"merchant B", b.ID, withMerchant(b), merchantAllowed})
		// A Level 1 user (moved down from Level 2), a disabled and an expired key: nothing.
		l1 := p.MerchantUser("Merchant C", "c@merchant.test")
		one := 1
		if _, err := p.Svc.UpdateMerchantUser(p.Ctx, l1.MerchantID, l1.ID, keyward.MerchantUserUpdate{Level: &one}); err != nil {
			t.Fatal(err)
		}
		off := false
		disabled := p.CreateKey(keyward.KeyCreate{Name: "disabled", Permissions: all, Enabled: &off})
		exp := p.Now.Add(time.Minute)
		expired := p.CreateKey(keyward.KeyCreate{Name: "expired", Permissions: all, ExpiresAt: &exp})
		p.Advance(2 * time.Minute)
		none := func(*catalog.Method) bool { return false }
		creds = append(creds, credential{"level 1 user", l1.ID, withMerchant(l1), none},
			credential{"disabled key", disabled.ID, withKey(disabled.Secrets[0].Secret), none},
			credential{"expired key", expired.ID, withKey(expired.Secrets[0].Secret), none})

		unexpectedAllows, unexpectedRefusals, calls := 0, 0, 0
		for _, c := range creds {
			for _, m := range cat.Methods() {
				if m.Keyward {
					continue // answered by keyward, never upstream: events_test.go
				}
				req, err := demoapi.Sample(m, "main")
				if err != nil {
					t.Fatal(err)
				}
				status, body := p.send(req, c.apply)
				calls++
				p.mu.Lock()
				reached := p.reached[c.id+" "+m.ID]
				p.mu.Unlock()
				switch want := c.allowed(m); {
				case reached && !want:
					unexpectedAllows++
					t.Errorf("%s: %s allowed (%d)", c.name, m.ID, status)
				case !reached && want:
					unexpectedRefusals++
					t.Errorf("%s: %s refused: %d %v", c.name, m.ID, status, body["code"])
				}
			}
		}
		t.Logf("%d calls by %d credentials over %d methods: %d unexpected allows, %d unexpected refusals",
			calls, len(creds), cat.Len(), unexpectedAllows, unexpectedRefusals)
	})
}

func TestMerchantsSeeOnlyTheirOwnRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPlatform(t, db)
		a := p.MerchantUser("Merchant A", "a@merchant.test")
		b := p.MerchantUser("Merchant B", "b@merchant.test")
		call := func(u *keyward.MerchantUser, method, target, body string) (int, map[string]any) {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			return p.send(httptest.NewRequest(method, target, rd), withMerchant(u))
		}
		ids := func(out map[string]any) []string {
			var s []string
			items, _ := out["items"].([]any)
			for _, it := range items {
				s = append(s, it.(map[string]any)["id"].(string))
			}
			return s
		}

		// A creates a job, trying to file it under B: the gateway sets the owner.
		status, job := call(a, "POST", "/api/v5/jobs", fmt.Sprintf(`{"title":"Deliver ord_8","merchant_id":%q}`, b.MerchantID))
		if status != 201 || job["merchant_id"] != a.MerchantID {
			t.Fatalf("create: %d %v", status, job)
		}
		jid := job["id"].(string)
		_, act := call(b, "POST", "/api/v5/actions", `{"type":"call"}`)
		aid, _ := act["id"].(string)

		leaks := 0
		check := func(what string, ok bool) {
			if !ok {
				leaks++
				t.Errorf("leak: %s", what)
			}
		}
		// The owner works with its record.
		if status, _ := call(a, "GET", "/api/v5/jobs/"+jid, ""); status != 200 {
			t.Fatalf("owner get: %d", status)
		}
		if status, _ := call(a, "PUT", "/api/v5/jobs/"+jid, `{"status":"started"}`); status != 200 {
			t.Fatalf("owner update: %d", status)
		}
		_, list := call(a, "GET", "/api/v5/jobs", "")
		if got := ids(list); len(got) != 1 || got[0] != jid {
			t.Fatalf("owner list: %v", got)
		}
		// The other merchant finds nothing, whatever it asks.
		for _, c := range []struct{ method, target, body string }{
			{"GET", "/api/v5/jobs/" + jid, ""},
			{"PUT", "/api/v5/jobs/" + jid, `{"status":"done"}`},
			{"DELETE", "/api/v5/jobs/" + jid, ""},
		} {
			status, _ := call(b, c.method, c.target, c.body)
			check(fmt.Sprintf("B %s %s answered %d", c.method, c.target, status), status == 404)
		}
		for _, target := range []string{"/api/v5/jobs", "/api/v5/jobs?merchant_id=" + a.MerchantID, "/api/v5/jobs/search?q=Deliver",
			"/api/v5/jobs/search?merchant_id=" + a.MerchantID + "&q=ord_8", "/api/v5/jobs?merchant_id=" + a.MerchantID + "&merchant_id=" + b.MerchantID} {
			_, out := call(b, "GET", target, "")
			for _, id := range ids(out) {
				check("B listed "+id+" via "+target, id != jid)
			}
		}
		if status, _ := call(a, "GET", "/api/v5/actions/"+aid, ""); status != 404 {
			check(fmt.Sprintf("A read B's action: %d", status), false)
		}
		// Seed records belong to no keyward merchant.
		if status, _ := call(a, "GET", "/api/v5/jobs/job_1", ""); status != 404 {
			check(fmt.Sprintf("A read an unowned seed job: %d", status), false)
		}
		// The owner deletes its record.
		if status, _ := call(a, "DELETE", "/api/v5/jobs/"+jid, ""); status >= 300 {
			t.Fatalf("owner delete: %d", status)
		}
		t.Logf("0 of %d cross-merchant reads, lists, searches, updates and deletes leaked", 10)
		if leaks != 0 {
			t.Fatalf("%d leaks", leaks)
		}
	})
}
