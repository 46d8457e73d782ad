package api_test

import (
	"maps"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// loopback lets connection checks reach the fakes on 127.0.0.1, as an
// operator's --outbound-allow would.
var loopback = outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}

// resends counts the audit entries recording that connection id's stored
// secrets were sent to a new destination.
func resends(e *env, id string) int {
	e.t.Helper()
	code, out := e.do(e.admin, "GET", "/api/v1/audit?limit=500", nil)
	if code != http.StatusOK {
		e.t.Fatalf("audit: %d %v", code, out)
	}
	n := 0
	for _, x := range out["data"].([]any) {
		a := x.(map[string]any)
		if a["action"] == "connection.resend_secrets" && a["object_id"] == id {
			n++
		}
	}
	return n
}

// move is the change of one destination field of a type towards rcv: the
// receiver's address where the field takes one, another value otherwise.
func move(t *testing.T, ty *connector.Type, name string, values map[string]string, rcv string) map[string]any {
	t.Helper()
	if name == connector.FieldAPIURL {
		return map[string]any{"api_url": rcv}
	}
	for _, v := range []string{rcv, "elsewhere.myshopify.com"} {
		changed := maps.Clone(values)
		changed[name] = v
		if _, _, _, err := ty.Normalize(rcv, changed, nil); err == nil {
			return map[string]any{"fields": map[string]string{name: v}}
		}
	}
	t.Fatalf("no value found for %s", name)
	return nil
}

// fresh returns new values for every secret field a connection holds,
// in the shape each type accepts.
func fresh(stored map[string]string) map[string]string {
	out := map[string]string{}
	for name, v := range stored {
		prefix, _, ok := strings.Cut(v, "_")
		if !ok {
			prefix = "new"
		}
		out[name] = prefix + "_fresh0123456789abcdef"
	}
	return out
}

// A stored secret goes only where it was entered for: for every type and
// every field deciding where its secrets go, a change of that field alone
// (checked or saved unverified) is refused as destination_changed, before
// anything is sent and with nothing changed; a loopback receiver at the new
// address gets nothing. Entering the secrets again sends only the new
// ones; resend_stored_secrets sends the stored ones, and the audit log
// says so first.
func TestStoredSecretsStayWithTheirDestination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, service.WithOutbound(loopback))
		for _, ty := range connector.Types() {
			for _, name := range slices.Sorted(maps.Keys(ty.Destinations("", nil))) {
				t.Run(ty.ID+"/"+name, func(t *testing.T) {
					e.t = t
					f := connectortest.New(t, ty.ID)
					rcv := connectortest.NewReceiver(t)
					// create saves a connection to the fake and returns its id
					// and the secrets it stores.
					create := func(suffix string) (string, map[string]string) {
						code, c := e.do(e.admin, "POST", "/api/v1/connections", map[string]any{"type": ty.ID, "name": ty.ID + " " + name + suffix,
							"api_url": f.URL, "fields": f.Values()})
						if code != http.StatusCreated {
							t.Fatalf("create: %d %v", code, c)
						}
						id := c["id"].(string)
						stored := map[string]string{}
						for _, s := range c["secrets_set"].([]any) {
							code, out := e.do(e.admin, "POST", "/api/v1/connections/"+id+"/reveal", map[string]string{"field": s.(string)})
							if code != http.StatusOK {
								t.Fatalf("reveal %s: %d %v", s, code, out)
							}
							stored[s.(string)] = out["value"].(string)
						}
						return id, stored
					}
					id, stored := create("")
					secrets := slices.Collect(maps.Values(stored))
					_, before := e.do(e.admin, "GET", "/api/v1/connections/"+id, nil)
					change := move(t, ty, name, f.Values(), rcv.URL)
					calls := f.Calls()

					for _, unverified := range []bool{false, true} {
						body := maps.Clone(change)
						body["save_unverified"] = unverified
						code, p := e.do(e.admin, "PATCH", "/api/v1/connections/"+id, body)
						if code != http.StatusConflict || p["code"] != "destination_changed" {
							t.Fatalf("unverified=%v: %d %v", unverified, code, p)
						}
						want := name
						if name != connector.FieldAPIURL {
							want = "fields." + name
						}
						if d, _ := p["details"].(map[string]any); d == nil || !slices.Contains(d["changed"].([]any), any(want)) {
							t.Fatalf("the problem does not name %s: %v", want, p)
						}
						if slices.ContainsFunc(secrets, func(s string) bool { return strings.Contains(p["detail"].(string), s) }) {
							t.Fatalf("the problem quotes a secret: %v", p)
						}
					}
					if rcv.Requests() != 0 || f.Calls() != calls {
						t.Fatalf("a refused change sent %d requests to the new address, %d to the old", rcv.Requests(), f.Calls()-calls)
					}
					_, now := e.do(e.admin, "GET", "/api/v1/connections/"+id, nil)
					if !reflect.DeepEqual(now, before) {
						t.Fatalf("a refused change changed the connection:\n%v\n%v", before, now)
					}
					if n := resends(e, id); n != 0 {
						t.Fatalf("%d resend entries before any was confirmed", n)
					}

					// Entered again: the new address may get the new secrets,
					// never the stored ones. (A receiver answering {} may
					// pass some checks and keep the connection, so this runs
					// on a connection of its own.)
					again, againStored := create(" again")
					body := maps.Clone(change)
					fields, _ := body["fields"].(map[string]string)
					fields = maps.Clone(fields)
					if fields == nil {
						fields = map[string]string{}
					}
					maps.Copy(fields, fresh(againStored))
					body["fields"] = fields
					e.do(e.admin, "PATCH", "/api/v1/connections/"+again, body)
					if got := rcv.Got(append(secrets, slices.Collect(maps.Values(againStored))...)...); len(got) > 0 {
						t.Fatalf("secrets entered again, yet the stored %v reached the new address", got)
					}
					if n := resends(e, again); n != 0 {
						t.Fatalf("%d resend entries for secrets entered again", n)
					}

					// Confirmed: audited before it is sent.
					body = maps.Clone(change)
					body["resend_stored_secrets"] = true
					code, out := e.do(e.admin, "PATCH", "/api/v1/connections/"+id, body)
					if code == http.StatusConflict {
						t.Fatalf("a confirmed resend was refused: %v", out)
					}
					if n := resends(e, id); n != 1 {
						t.Fatalf("%d resend entries after one confirmed resend", n)
					}
				})
			}
		}
	})
}
