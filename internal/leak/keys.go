// Package leak checks the signatures of leak reports: ECDSA P-256 with
// SHA-256 over the raw body, as GitHub's secret scanning partner program
// signs them, against public keys the operator installs.
package leak

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Keys are the public keys leak reports may be signed with, by identifier.
type Keys map[string]*ecdsa.PublicKey

// file is the format of a keys file: that of the document GitHub serves
// at /meta/public_keys/secret_scanning, so it can be saved as it is.
type file struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
	} `json:"public_keys"`
}

// Load reads a keys file: JSON {"public_keys": [{"key_identifier": ID,
// "key": PEM}]}. Every key must be an ECDSA P-256 public key.
func Load(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse reads the contents of a keys file; see Load.
func Parse(b []byte) (Keys, error) {
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("leak report keys: %v", err)
	}
	if len(f.PublicKeys) == 0 {
		return nil, errors.New("leak report keys: the file names no public_keys")
	}
	keys := Keys{}
	for i, k := range f.PublicKeys {
		if k.KeyIdentifier == "" {
			return nil, fmt.Errorf("leak report keys: public_keys[%d] has no key_identifier", i)
		}
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil {
			return nil, fmt.Errorf("leak report keys: the key of %q is not PEM", k.KeyIdentifier)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		ec, ok := pub.(*ecdsa.PublicKey)
		if err != nil || !ok || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("leak report keys: the key of %q is not an ECDSA P-256 public key", k.KeyIdentifier)
		}
		keys[k.KeyIdentifier] = ec
	}
	return keys, nil
}

// Verify reports whether signature (base64 of an ASN.1 DER ECDSA
// signature) signs body with the key named id.
func (k Keys) Verify(id, signature string, body []byte) bool {
	pub, ok := k[id]
	if !ok || id == "" {
		return false
	}
	der, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	h := sha256.Sum256(body)
	return ecdsa.VerifyASN1(pub, h[:], der)
}

// Sign returns the signature Verify checks: the base64 ASN.1 DER ECDSA
// signature of the SHA-256 of body, as a partner sends it in
// Github-Public-Key-Signature.
func Sign(k *ecdsa.PrivateKey, body []byte) (string, error) {
	h := sha256.Sum256(body)
	der, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	return base64.StdEncoding.EncodeToString(der), err
}
