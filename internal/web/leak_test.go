package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/leak"
	"github.com/keyward/keyward/internal/secret"
)

// A key reported leaked shows a banner on its page: which secret, when,
// where it was found, and that the key was disabled.
func TestLeakBannerOnTheKeyPage(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "Leaky", Permissions: keyward.Permissions{"orders": "read"}})
	pk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body, _ := json.Marshal([]keyward.LeakReport{{Token: k.Secrets[0].Secret, Type: "keyward", URL: "https://code.example.com/acme/blob/main/.env", Source: "commit"}})
	sig, _ := leak.Sign(pk, body)
	if _, err := e.svc.ReportLeaks(e.sys, leak.Keys{"k": &pk.PublicKey}, "k", sig, body, ""); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathKeys + "/" + k.ID)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "The secret "+secret.Hint(k.Secrets[0].Secret)+" was reported leaked", `href="https://code.example.com/acme/blob/main/.env"`, "(commit)", "The key was disabled at once", "Disabled")
}
