package leak_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/keyward/keyward/internal/leak"
)

func keysFile(t *testing.T, id string, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"public_keys": []map[string]string{{"key_identifier": id, "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}})
	return b
}

// Only the body signed, by the key named, verifies; any byte of the
// signature changed does not.
func TestVerify(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys, err := leak.Parse(keysFile(t, "k1", &k.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"token":"kwk_x","type":"t","url":"u","source":"s"}]`)
	sig, _ := leak.Sign(k, body)
	if !keys.Verify("k1", sig, body) {
		t.Fatal("a good signature does not verify")
	}
	if keys.Verify("k2", sig, body) || keys.Verify("k1", sig, append(body, ' ')) || keys.Verify("k1", "", body) {
		t.Error("a wrong key id, body or empty signature verifies")
	}
	der, _ := base64.StdEncoding.DecodeString(sig)
	for i := range der {
		for _, bit := range []byte{0x01, 0x80} {
			bad := append([]byte(nil), der...)
			bad[i] ^= bit
			if keys.Verify("k1", base64.StdEncoding.EncodeToString(bad), body) {
				t.Fatalf("byte %d changed (^%#x) verifies", i, bit)
			}
		}
	}
}

// A keys file must hold P-256 public keys with identifiers.
func TestParseRefuses(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, b := range map[string][]byte{
		"not JSON": []byte("nope"),
		"no keys":  []byte(`{"public_keys":[]}`),
		"P-384":    keysFile(t, "k", &p384.PublicKey),
		"no id":    keysFile(t, "", &p256.PublicKey),
		"not PEM":  []byte(`{"public_keys":[{"key_identifier":"k","key":"abc"}]}`),
	} {
		if _, err := leak.Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
