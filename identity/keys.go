package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
	"sync/atomic"
)

// KeyID returns the id of an identity key, the value of the
// X-Keyward-Signature-Kid header: "idk_" and 16 lowercase hex digits of a
// SHA-256 of the key. Anyone holding the key can compute it, so a verifier
// needs no list of ids, and it tells nothing of the key to anyone else.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("keyward-identity-key-id\n"))
	h.Write(key)
	var sum [sha256.Size]byte
	return "idk_" + hex.EncodeToString(h.Sum(sum[:0])[:8])
}

// macKey is one identity key, its id, and HMACs keyed with it for reuse.
type macKey struct {
	id   string
	key  []byte
	macs sync.Pool // of *macScratch
}

// macScratch is an HMAC and buffer used by one caller at a time.
type macScratch struct {
	mac hash.Hash
	buf []byte
}

func newMACKey(key []byte) (*macKey, error) {
	if len(key) < MinKey {
		return nil, ErrKey
	}
	k := &macKey{id: KeyID(key), key: bytes.Clone(key)}
	k.macs.New = func() any { return &macScratch{mac: hmac.New(sha256.New, k.key), buf: make([]byte, 0, 256)} }
	return k, nil
}

// signed reports whether got is the MAC of f under k, in constant time.
func (k *macKey) signed(got *[sha256.Size]byte, f *Fields) bool {
	var want [sha256.Size]byte
	s := k.macs.Get().(*macScratch)
	s.buf = sum(s.mac, s.buf, &want, f)
	k.macs.Put(s)
	return hmac.Equal(got[:], want[:])
}

// Signer signs identities with one key, which may be replaced while it
// signs: a node takes up a rotated key without a restart. It is safe for
// concurrent use.
type Signer struct {
	key atomic.Pointer[macKey]
}

// NewSigner returns a signer with key, at least MinKey bytes.
func NewSigner(key []byte) (*Signer, error) {
	s := &Signer{}
	if err := s.SetKey(key); err != nil {
		return nil, err
	}
	return s, nil
}

// SetKey makes key the one s signs with from now on; a key shorter than
// MinKey is refused and changes nothing.
func (s *Signer) SetKey(key []byte) error {
	k, err := newMACKey(key)
	if err != nil {
		return err
	}
	s.key.Store(k)
	return nil
}

// KeyID returns the id of the key s signs with now.
func (s *Signer) KeyID() string { return s.key.Load().id }

// Sign returns the X-Keyward-Signature value of f and the id of the key
// that made it, for X-Keyward-Signature-Kid. Only the signature value is
// allocated.
func (s *Signer) Sign(f *Fields) (sig, kid string) {
	k := s.key.Load()
	m := k.macs.Get().(*macScratch)
	sig, m.buf = Sign(m.mac, m.buf, f)
	k.macs.Put(m)
	return sig, k.id
}
