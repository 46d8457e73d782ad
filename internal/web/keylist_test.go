package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// order returns the display names of keys as they appear in body.
func order(body string, names ...string) []string {
	type at struct {
		name string
		i    int
	}
	var found []at
	for _, n := range names {
		if i := strings.Index(body, ">"+n+"</a>"); i >= 0 {
			found = append(found, at{n, i})
		}
	}
	for i := range found {
		for j := i + 1; j < len(found); j++ {
			if found[j].i < found[i].i {
				found[i], found[j] = found[j], found[i]
			}
		}
	}
	var out []string
	for _, f := range found {
		out = append(out, f.name)
	}
	return out
}

func TestKeyListSortsByNameNewestAndLastUsed(t *testing.T) {
	e := newEnv(t, false)
	perms := keyward.Permissions{"orders": "read"}
	zeta := e.key(keyward.KeyCreate{Name: "zeta", Permissions: perms})
	alpha := e.key(keyward.KeyCreate{Name: "Alpha", Permissions: perms})
	mid := e.key(keyward.KeyCreate{Name: "mid", Permissions: perms})
	if !zeta.CreatedAt.Before(alpha.CreatedAt) || !alpha.CreatedAt.Before(mid.CreatedAt) {
		t.Fatalf("creation times do not follow creation: %v %v %v", zeta.CreatedAt, alpha.CreatedAt, mid.CreatedAt)
	}
	// Alpha was used a minute ago, zeta an hour ago, mid never.
	now := time.Now().UTC()
	err := e.db.Write(context.Background(), func(q *store.Q) error {
		if err := q.TouchKeySecret(context.Background(), zeta.Secrets[0].Digest, now.Add(-time.Hour), ""); err != nil {
			return err
		}
		return q.TouchKeySecret(context.Background(), alpha.Secrets[1].Digest, now.Add(-time.Minute), "")
	})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"demo-Alpha", "demo-mid", "demo-zeta"}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)

	body := c.get(pathKeys).Body
	if got := strings.Join(order(body, names...), ","); got != "demo-Alpha,demo-mid,demo-zeta" {
		t.Fatalf("default order %s, want by name", got)
	}
	wantBody(t, c.get(pathKeys), `<strong aria-current="true">Name</strong>`, `href="/settings/integrations/api-management?sort=newest"`)
	body = c.get(pathKeys + "?sort=newest").Body
	if got := strings.Join(order(body, names...), ","); got != "demo-mid,demo-Alpha,demo-zeta" {
		t.Fatalf("newest first: %s", got)
	}
	body = c.get(pathKeys + "?sort=last_used").Body
	if got := strings.Join(order(body, names...), ","); got != "demo-Alpha,demo-zeta,demo-mid" {
		t.Fatalf("last used first: %s", got)
	}
}
