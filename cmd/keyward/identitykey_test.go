package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// verifyingUpstream is a platform API that answers 200 only to requests
// whose identity verifies with the keys it was last given, as an upstream
// configured from "keyward identity keys --json" does. It keeps every
// request it received.
type verifyingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	v    *identity.Verifier
	seen []*http.Request
}

func newVerifyingUpstream(t *testing.T) *verifyingUpstream {
	u := &verifyingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		v := u.v
		u.seen = append(u.seen, &http.Request{Method: r.Method, RequestURI: r.RequestURI, URL: r.URL, Header: r.Header.Clone(), Body: http.NoBody})
		u.mu.Unlock()
		if v == nil {
			http.Error(w, "no keys", http.StatusUnauthorized)
			return
		}
		v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"data":[]}`)) })).ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// load gives the upstream the keys published now.
func (u *verifyingUpstream) load(t *testing.T, keys [][]byte) {
	t.Helper()
	v, err := identity.NewKeySetVerifier(keys, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	u.v = v
	u.mu.Unlock()
}

// last returns the last request the upstream received.
func (u *verifyingUpstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[len(u.seen)-1]
}

// publishedKey is one key as "keyward identity keys --json" prints it.
type publishedKey struct {
	Kid, State, Secret string
}

// identityCLI runs "keyward identity <args>" on the database db (flags).
func identityCLI(t *testing.T, db []string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append(append([]string{"identity"}, args...), db...), &out, &out); err != nil {
		t.Fatalf("keyward identity %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// publishedKeys returns the keys "keyward identity keys --json" lists.
func publishedKeys(t *testing.T, db []string) []publishedKey {
	t.Helper()
	var got struct{ Keys []publishedKey }
	if err := json.Unmarshal([]byte(identityCLI(t, db, "keys", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	return got.Keys
}

func secretsOf(keys []publishedKey) [][]byte {
	var out [][]byte
	for _, k := range keys {
		out = append(out, []byte(k.Secret))
	}
	return out
}

func kidOf(keys []publishedKey, state string) string {
	for _, k := range keys {
		if k.State == state {
			return k.Kid
		}
	}
	return ""
}

// through sends a GET of orders through the gateway of n with key and
// returns the status the upstream's answer came back with.
func through(t *testing.T, n *node, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.m.gatewayListener.Addr().String()+"/api/v5/orders?store=main", nil)
	req.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// verifyAgain checks r, a request an upstream received, with a fresh
// verifier of keys (so the replay cache of the first check plays no part).
func verifyAgain(t *testing.T, r *http.Request, keys [][]byte) error {
	t.Helper()
	v, err := identity.NewKeySetVerifier(keys, identity.Options{MaxSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := *r
	c.Header = r.Header.Clone()
	_, err = v.Verify(&c)
	return err
}

// A node restarted on the same database signs with the key it signed
// with before, so an upstream holding the published key keeps accepting
// its requests; a demo node keeps it in its data folder.
func TestIdentityKeySurvivesARestart(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			up := newVerifyingUpstream(t)
			db := dbArgs(t, e)
			n := startNode(t, append([]string{"--demo", "--upstream", up.URL}, db...)...)
			_, key := createKey(t, n, n.adminToken(), "Restart")
			keys := publishedKeys(t, db)
			if len(keys) != 1 || keys[0].State != "current" || len(keys[0].Secret) != 64 {
				t.Fatalf("published keys: %+v", keys)
			}
			up.load(t, secretsOf(keys))
			if got := through(t, n, key); got != 200 {
				t.Fatalf("before the restart: %d", got)
			}
			if kid := up.last().Header.Get(identity.HeaderSignatureKid); kid != keys[0].Kid {
				t.Fatalf("X-Keyward-Signature-Kid %q, want %q", kid, keys[0].Kid)
			}
			n.shut()

			n = startNode(t, append([]string{"--demo", "--upstream", up.URL}, db...)...)
			if got := through(t, n, key); got != 200 {
				t.Fatalf("after the restart, the upstream holding the published key answered %d", got)
			}
			if again := publishedKeys(t, db); len(again) != 1 || again[0].Secret != keys[0].Secret {
				t.Fatalf("keys after the restart: %+v, before %+v", again, keys)
			}
		})
	}
}

// Nodes sharing one PostgreSQL schema sign with the same key.
func TestNodesOfOneDatabaseSignAlike(t *testing.T) {
	up := newVerifyingUpstream(t)
	db := dbArgs(t, store.Postgres)
	a := startNode(t, append([]string{"--demo", "--upstream", up.URL}, db...)...)
	b := startNode(t, append([]string{"--demo", "--upstream", up.URL}, db...)...)
	_, key := createKey(t, a, a.adminToken(), "Cluster")
	up.load(t, secretsOf(publishedKeys(t, db)))
	waitFor(t, 10*time.Second, "VALID", func() string { return b.verify(key) })
	for name, n := range map[string]*node{"a": a, "b": b} {
		if got := through(t, n, key); got != 200 {
			t.Fatalf("node %s: the upstream answered %d", name, got)
		}
	}
}

// A rotation: the next key is published first and signs only once
// activated, which every node takes up without a restart; meanwhile both
// keys verify, and once the old one is retired it is refused, by an
// upstream given the published keys and by the demo platform API.
func TestIdentityKeyRotationWithOverlap(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			up := newVerifyingUpstream(t)
			db := dbArgs(t, e)
			n := startNode(t, append([]string{"--demo", "--upstream", up.URL, "--sync-interval", "20ms"}, db...)...)
			_, key := createKey(t, n, n.adminToken(), "Rotation")
			before := publishedKeys(t, db)
			oldKid := kidOf(before, "current")
			up.load(t, secretsOf(before))
			if got := through(t, n, key); got != 200 {
				t.Fatalf("before the rotation: %d", got)
			}
			oldSigned := up.last()

			out := identityCLI(t, db, "rotate")
			during := publishedKeys(t, db)
			newKid := kidOf(during, "next")
			if len(during) != 2 || newKid == "" || !strings.Contains(out, newKid) {
				t.Fatalf("after rotate: %+v\n%s", during, out)
			}
			var bad bytes.Buffer
			if err := run(context.Background(), append([]string{"identity", "rotate"}, db...), &bad, &bad); err == nil {
				t.Fatal("a second rotation while one is under way was accepted")
			}
			up.load(t, secretsOf(during))
			// Published but not activated: the node still signs with the old key.
			if got := through(t, n, key); got != 200 || up.last().Header.Get(identity.HeaderSignatureKid) != oldKid {
				t.Fatalf("before activation: %d, kid %s", got, up.last().Header.Get(identity.HeaderSignatureKid))
			}

			identityCLI(t, db, "activate")
			waitFor(t, 10*time.Second, newKid, func() string {
				if through(t, n, key) != 200 {
					return "refused"
				}
				return up.last().Header.Get(identity.HeaderSignatureKid)
			})
			newSigned := up.last()
			if got := publishedKeys(t, db); kidOf(got, "current") != newKid || kidOf(got, "previous") != oldKid {
				t.Fatalf("after activate: %+v", got)
			}
			for name, r := range map[string]*http.Request{"old": oldSigned, "new": newSigned} {
				if err := verifyAgain(t, r, secretsOf(during)); err != nil {
					t.Fatalf("during the overlap, the %s-signed request: %v", name, err)
				}
			}

			identityCLI(t, db, "retire")
			after := publishedKeys(t, db)
			if len(after) != 1 || after[0].Kid != newKid {
				t.Fatalf("after retire: %+v", after)
			}
			if err := verifyAgain(t, oldSigned, secretsOf(after)); !errors.Is(err, identity.ErrForged) {
				t.Fatalf("after retire, the old-signed request: %v, want forged", err)
			}
			if err := verifyAgain(t, newSigned, secretsOf(after)); err != nil {
				t.Fatalf("after retire, the new-signed request: %v", err)
			}
			up.load(t, secretsOf(after))
			if got := through(t, n, key); got != 200 {
				t.Fatalf("after retire: %d", got)
			}
			// The node's demo platform API follows the published keys too.
			waitFor(t, 10*time.Second, "forged", func() string {
				c := *oldSigned
				c.Header = oldSigned.Header.Clone()
				if _, err := n.m.obs.verifier.Verify(&c); errors.Is(err, identity.ErrForged) {
					return "forged"
				} else if err != nil {
					return err.Error()
				}
				return "accepted"
			})
		})
	}
}

// Outside --demo, a node sending identity headers needs somewhere to keep
// the key: the master key (the database keeps it sealed) or
// KEYWARD_IDENTITY_KEY. It no longer makes one up at each start.
func TestIdentityKeyNeedsAMasterKeyOrAConfiguredKey(t *testing.T) {
	t.Setenv("KEYWARD_MASTER_KEY", "")
	t.Setenv("KEYWARD_MASTER_KEY_FILE", "")
	t.Setenv("KEYWARD_IDENTITY_KEY", "")
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	start := func(extra ...string) error {
		m := NewMain(&bytes.Buffer{})
		args := append([]string{"--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--log-level", "error", "--data", t.TempDir()}, extra...)
		if err := m.Parse(args); err != nil {
			return err
		}
		err := m.Open(context.Background())
		m.Close()
		return err
	}
	err := start("--upstream", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "KEYWARD_MASTER_KEY") || !strings.Contains(err.Error(), "KEYWARD_IDENTITY_KEY") {
		t.Fatalf("gateway without a master key or identity key: %v", err)
	}
	if err := start("--authz-addr", "127.0.0.1:0"); err == nil {
		t.Fatal("forward-auth without a master key or identity key started")
	}
	if err := start(); err != nil {
		t.Fatalf("a node sending no identity headers needs no identity key: %v", err)
	}
	t.Setenv("KEYWARD_IDENTITY_KEY", strings.Repeat("k", 32))
	if err := start("--upstream", "http://127.0.0.1:1"); err != nil {
		t.Fatalf("with KEYWARD_IDENTITY_KEY: %v", err)
	}
	t.Setenv("KEYWARD_IDENTITY_KEY", "short")
	if err := start("--upstream", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("a short KEYWARD_IDENTITY_KEY: %v", err)
	}
}
