package identity

import (
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"
)

var otherIdentityKey = []byte("another identity key of 32 bytes or more")

// signedWithKid is the default request signed by a Signer with key, with
// the X-Keyward-Signature-Kid header the proxy sends (none when kid is
// false).
func signedWithKid(t *testing.T, key []byte, kid bool) *http.Request {
	t.Helper()
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ir := defaultIdentityRequest()
	r := ir.signed(key)
	f := ir.fields()
	f.RequestID = r.Header.Get(HeaderRequestID)
	sig, id := s.Sign(&f)
	if want := r.Header.Get(HeaderSignature); sig != want {
		t.Fatalf("Signer signature %s, Sign %s", sig, want)
	}
	if id != KeyID(key) {
		t.Fatalf("Signer kid %s, KeyID %s", id, KeyID(key))
	}
	if kid {
		r.Header.Set(HeaderSignatureKid, id)
	}
	return r
}

func TestKeySetVerifier(t *testing.T) {
	now := func() time.Time { return testNow }
	both, err := NewKeySetVerifier([][]byte{testIdentityKey, otherIdentityKey}, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	third := []byte("a third identity key, of 32 bytes or more")
	for _, c := range []struct {
		name string
		req  *http.Request
		want error
	}{
		{"first key with its kid", signedWithKid(t, testIdentityKey, true), nil},
		{"second key with its kid", signedWithKid(t, otherIdentityKey, true), nil},
		{"first key without kid", signedWithKid(t, testIdentityKey, false), nil},
		{"second key without kid", signedWithKid(t, otherIdentityKey, false), nil},
		{"unknown key with its kid", signedWithKid(t, third, true), ErrForged},
		{"unknown key without kid", signedWithKid(t, third, false), ErrForged},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := both.Verify(c.req); !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
		})
	}
	t.Run("a kid naming one key admits only that key", func(t *testing.T) {
		r := signedWithKid(t, otherIdentityKey, false)
		r.Header.Set(HeaderSignatureKid, KeyID(testIdentityKey))
		if _, err := both.Verify(r); !errors.Is(err, ErrForged) {
			t.Fatalf("Verify: %v, want forged", err)
		}
	})
	t.Run("an unknown kid tries every key", func(t *testing.T) {
		r := signedWithKid(t, otherIdentityKey, false)
		r.Header.Set(HeaderSignatureKid, "idk_0000000000000000")
		if _, err := both.Verify(r); err != nil {
			t.Fatal(err)
		}
	})
	for _, bad := range [][]string{{""}, {KeyID(testIdentityKey), KeyID(testIdentityKey)}} {
		r := signedWithKid(t, testIdentityKey, false)
		r.Header[HeaderSignatureKid] = bad
		if _, err := both.Verify(r); !errors.Is(err, ErrMalformed) {
			t.Fatalf("kid %q: %v, want malformed", bad, err)
		}
	}
	t.Run("a key removed with SetKeys is refused", func(t *testing.T) {
		v, err := NewKeySetVerifier([][]byte{testIdentityKey, otherIdentityKey}, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(signedWithKid(t, testIdentityKey, true)); err != nil {
			t.Fatal(err)
		}
		if err := v.SetKeys([][]byte{otherIdentityKey}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(signedWithKid(t, testIdentityKey, true)); !errors.Is(err, ErrForged) {
			t.Fatalf("retired key: %v, want forged", err)
		}
		if _, err := v.Verify(signedWithKid(t, otherIdentityKey, true)); err != nil {
			t.Fatal(err)
		}
		for _, keys := range [][][]byte{nil, {otherIdentityKey, []byte("short")}} {
			if err := v.SetKeys(keys); !errors.Is(err, ErrKey) {
				t.Fatalf("SetKeys(%q): %v", keys, err)
			}
		}
		if _, err := v.Verify(signedWithKid(t, otherIdentityKey, true)); err != nil {
			t.Fatalf("a refused SetKeys changed the keys: %v", err)
		}
	})
}

func TestSignerSetKey(t *testing.T) {
	s, err := NewSigner(testIdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetKey([]byte("short")); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: %v", err)
	}
	if s.KeyID() != KeyID(testIdentityKey) {
		t.Fatal("a refused key replaced the signer's")
	}
	if err := s.SetKey(otherIdentityKey); err != nil {
		t.Fatal(err)
	}
	f := defaultIdentityRequest().fields()
	sig, kid := s.Sign(&f)
	if sig != signature(otherIdentityKey, &f) || kid != KeyID(otherIdentityKey) {
		t.Fatalf("after SetKey: %s %s", sig, kid)
	}
	if !regexp.MustCompile(`^idk_[0-9a-f]{16}$`).MatchString(kid) {
		t.Fatalf("kid %q", kid)
	}
}
