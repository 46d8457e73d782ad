// Package seal keeps secrets encrypted at rest with envelope encryption:
// every sealed value gets a fresh 256-bit data key (DEK), the value is
// encrypted with it under AES-256-GCM, and the DEK is itself encrypted
// ("wrapped") under AES-256-GCM by a master key (KEK) from a [Keyring].
//
// # Associated data
//
// A value is bound to its place: the tenant id, the record id and the field
// name, with the format version, are the GCM associated data of the value,
// so a ciphertext copied into another row, tenant or field does not open.
// The wrapped DEK is bound to the format version and the KEK id.
//
// # Format
//
// A [Sealed] value is one printable string, kept in one text column:
//
//	ks1.<kek id>.<wrapped DEK>.<nonce>.<ciphertext>
//
// ks1 is the format version. The KEK id is 1 to 32 characters of
// [A-Za-z0-9-]. The last three parts are unpadded base64url: the wrapped
// DEK is a 12-byte nonce followed by the GCM sealing of the 32-byte DEK
// (60 bytes in all); the nonce is the value's random 96-bit GCM nonce; the
// ciphertext is the GCM sealing of the value, tag included.
//
// # Rotation
//
// A keyring holds one primary KEK, which wraps every new DEK, and older
// KEKs that still unwrap. Rotating the master key is adding a new primary
// and calling [Keyring.Rewrap] on every sealed value: the DEK is unwrapped
// with the old KEK and wrapped with the new one; the value's nonce and
// ciphertext do not change. Once every value is on the new KEK, the old one
// can be dropped from the keyring.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Version is the format version every sealed value starts with.
const Version = "ks1"

// KeySize is the size of master keys and data keys, in bytes.
const KeySize = 32

// Errors. None of them carries key material or plaintext.
var (
	// ErrOpen is returned when a value does not open: it was changed,
	// moved to another place, or sealed under a key this keyring lacks.
	ErrOpen = errors.New("seal: the sealed value cannot be opened with this keyring and place")
	// ErrUnknownKey is returned when a value names a KEK not in the keyring.
	ErrUnknownKey = errors.New("seal: the sealed value names a master key this keyring does not hold")
	// ErrFormat is returned for a string that is not a sealed value.
	ErrFormat = errors.New("seal: not a sealed value")
)

// Place names where a value is kept; it is the value's associated data.
type Place struct {
	TenantID string // "" for values that belong to no tenant
	RecordID string
	Field    string // such as "webhook_endpoints.secret_sealed"
}

// aad encodes the place with the format version, each part length-prefixed
// so that no two places share an encoding.
func (p Place) aad() []byte {
	var b []byte
	for _, s := range []string{Version, p.TenantID, p.RecordID, p.Field} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// Sealed is one sealed value in its stored form (see the package
// documentation for the format).
type Sealed string

// KEKID returns the id of the master key that wraps the value's DEK, or ""
// when s is not a sealed value.
func (s Sealed) KEKID() string {
	p, err := parse(s)
	if err != nil {
		return ""
	}
	return p.kekID
}

type parts struct {
	kekID                   string
	wrapped, nonce, payload []byte
}

func parse(s Sealed) (parts, error) {
	f := strings.Split(string(s), ".")
	if len(f) != 5 || f[0] != Version || !validID(f[1]) {
		return parts{}, ErrFormat
	}
	var p parts
	p.kekID = f[1]
	var err error
	dec := base64.RawURLEncoding
	if p.wrapped, err = dec.DecodeString(f[2]); err != nil || len(p.wrapped) != 12+KeySize+16 {
		return parts{}, ErrFormat
	}
	if p.nonce, err = dec.DecodeString(f[3]); err != nil || len(p.nonce) != 12 {
		return parts{}, ErrFormat
	}
	if p.payload, err = dec.DecodeString(f[4]); err != nil || len(p.payload) < 16 {
		return parts{}, ErrFormat
	}
	return p, nil
}

func (p parts) format() Sealed {
	enc := base64.RawURLEncoding
	return Sealed(Version + "." + p.kekID + "." + enc.EncodeToString(p.wrapped) + "." + enc.EncodeToString(p.nonce) + "." + enc.EncodeToString(p.payload))
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// kek is one master key.
type kek struct {
	id    string
	aead  cipher.AEAD
	wraps atomic.Uint64
}

func newGCM(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // key is always KeySize bytes here
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

func (k *kek) wrapAAD() []byte { return []byte(Version + "\x00dek\x00" + k.id) }

func (k *kek) wrap(dek []byte) []byte {
	k.wraps.Add(1)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, dek, k.wrapAAD())
}

func (k *kek) unwrap(w []byte) ([]byte, error) {
	dek, err := k.aead.Open(nil, w[:12], w[12:], k.wrapAAD())
	if err != nil || len(dek) != KeySize {
		return nil, ErrOpen
	}
	return dek, nil
}

// Keyring holds the primary master key, which seals, and older ones, which
// only open. It is safe for concurrent use.
type Keyring struct {
	keks []*kek // keks[0] is the primary
}

// Key is one master key of a keyring.
type Key struct {
	ID  string // 1 to 32 characters of [A-Za-z0-9-]
	Key []byte // KeySize bytes
}

// KeyID returns the id a master key gets when none is given: the first 8
// bytes of a SHA-256 of the key, in hex. It names the key without
// revealing it.
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("keyward master key id\x00"), key...))
	return hex.EncodeToString(h[:8])
}

// NewKeyring returns a keyring of keys, the first one primary.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: a keyring needs at least one master key")
	}
	kr := &Keyring{}
	seen := map[string]bool{}
	for i, k := range keys {
		if len(k.Key) != KeySize {
			return nil, fmt.Errorf("seal: master key %d is %d bytes; it must be %d", i+1, len(k.Key), KeySize)
		}
		if k.ID == "" {
			k.ID = KeyID(k.Key)
		}
		if !validID(k.ID) {
			return nil, fmt.Errorf("seal: master key %d: id %q must be 1 to 32 letters, digits or '-'", i+1, k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("seal: master key id %q appears twice", k.ID)
		}
		seen[k.ID] = true
		kr.keks = append(kr.keks, &kek{id: k.ID, aead: newGCM(k.Key)})
	}
	return kr, nil
}

// ParseKeyring reads a keyring from text: master keys separated by commas,
// the first primary, each 32 bytes written as 64 hex digits or as base64
// (standard or URL alphabet, padded or not), optionally preceded by an id
// and a colon: "2026-12:<key>,2026-06:<key>". A key without an id gets
// [KeyID]. Errors never contain the key text.
func ParseKeyring(s string) (*Keyring, error) {
	var keys []Key
	for i, item := range strings.Split(strings.TrimSpace(s), ",") {
		item = strings.TrimSpace(item)
		id, text, ok := strings.Cut(item, ":")
		if !ok {
			id, text = "", item
		}
		key, err := decodeKey(text)
		if err != nil {
			return nil, fmt.Errorf("master key %d: %v", i+1, err)
		}
		keys = append(keys, Key{ID: id, Key: key})
	}
	return NewKeyring(keys...)
}

func decodeKey(s string) ([]byte, error) {
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes; a master key is %d bytes (64 hex digits or 44 base64 characters)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not hex or base64 of %d bytes", KeySize)
}

// GenerateKey returns a new random master key, base64-encoded.
func GenerateKey() string {
	b := make([]byte, KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Primary returns the id of the primary master key.
func (kr *Keyring) Primary() string { return kr.keks[0].id }

// IDs returns the ids of the keyring's master keys, the primary first.
func (kr *Keyring) IDs() []string {
	out := make([]string, len(kr.keks))
	for i, k := range kr.keks {
		out[i] = k.id
	}
	return out
}

// Wraps returns how many DEKs the master key id has wrapped through this
// keyring since it was made. NIST SP 800-38D limits a GCM key with random
// nonces to 2³² uses; with one wrap per sealed value that is far off, but
// the count lets an operator see it.
func (kr *Keyring) Wraps(id string) uint64 {
	if k := kr.find(id); k != nil {
		return k.wraps.Load()
	}
	return 0
}

func (kr *Keyring) find(id string) *kek {
	for _, k := range kr.keks {
		if k.id == id {
			return k
		}
	}
	return nil
}

// Seal encrypts plaintext for place with a fresh data key wrapped by the
// primary master key.
func (kr *Keyring) Seal(plaintext []byte, place Place) Sealed {
	dek := make([]byte, KeySize)
	rand.Read(dek)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	primary := kr.keks[0]
	p := parts{kekID: primary.id, wrapped: primary.wrap(dek), nonce: nonce}
	p.payload = newGCM(dek).Seal(nil, nonce, plaintext, place.aad())
	clear(dek)
	return p.format()
}

// Open decrypts s, which must have been sealed for place.
func (kr *Keyring) Open(s Sealed, place Place) ([]byte, error) {
	p, err := parse(s)
	if err != nil {
		return nil, err
	}
	k := kr.find(p.kekID)
	if k == nil {
		return nil, ErrUnknownKey
	}
	dek, err := k.unwrap(p.wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	out, err := newGCM(dek).Open(nil, p.nonce, p.payload, place.aad())
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// Current reports whether s is wrapped by the primary master key, so that
// rewrapping it would change nothing.
func (kr *Keyring) Current(s Sealed) bool { return s.KEKID() == kr.Primary() }

// Rewrap returns s with its data key wrapped by the primary master key;
// the nonce and ciphertext stay as they are and the value is never
// decrypted. A value already on the primary is returned unchanged.
func (kr *Keyring) Rewrap(s Sealed) (Sealed, error) {
	p, err := parse(s)
	if err != nil {
		return "", err
	}
	if p.kekID == kr.Primary() {
		return s, nil
	}
	k := kr.find(p.kekID)
	if k == nil {
		return "", ErrUnknownKey
	}
	dek, err := k.unwrap(p.wrapped)
	if err != nil {
		return "", err
	}
	defer clear(dek)
	primary := kr.keks[0]
	p.kekID, p.wrapped = primary.id, primary.wrap(dek)
	return p.format(), nil
}
