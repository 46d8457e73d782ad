package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func ring(t *testing.T, spec string) *Keyring {
	t.Helper()
	kr, err := ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var (
	keyA = strings.Repeat("a1", 32)
	keyB = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
)

var place = Place{TenantID: "ten_1", RecordID: "whk_1", Field: "webhook_endpoints.secret_sealed"}

func TestSealOpensOnlyInItsPlace(t *testing.T) {
	kr := ring(t, keyA)
	s := kr.Seal([]byte("whsec_hello"), place)
	got, err := kr.Open(s, place)
	if err != nil || string(got) != "whsec_hello" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if strings.Contains(string(s), "hello") {
		t.Fatal("sealed value holds the plaintext")
	}
	for name, p := range map[string]Place{
		"other tenant": {TenantID: "ten_2", RecordID: place.RecordID, Field: place.Field},
		"other record": {TenantID: place.TenantID, RecordID: "whk_2", Field: place.Field},
		"other field":  {TenantID: place.TenantID, RecordID: place.RecordID, Field: "connectors.secret"},
		"shifted":      {TenantID: "ten_1whk_1", RecordID: "", Field: place.Field},
	} {
		if _, err := kr.Open(s, p); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestSwappedBetweenTenantsNeverOpens(t *testing.T) {
	kr := ring(t, keyA)
	for i := 0; i < 1000; i++ {
		p1 := Place{TenantID: "ten_a", RecordID: "r", Field: "f"}
		p2 := Place{TenantID: "ten_b", RecordID: "r", Field: "f"}
		if _, err := kr.Open(kr.Seal([]byte("x"), p1), p2); err == nil {
			t.Fatal("a value sealed for one tenant opened for another")
		}
	}
}

func TestEveryFlippedByteFailsToOpen(t *testing.T) {
	kr := ring(t, keyA)
	s := kr.Seal([]byte("whsec_0123456789"), place)
	p, err := parse(s)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, field := range []*[]byte{&p.wrapped, &p.nonce, &p.payload} {
		for i := range *field {
			(*field)[i] ^= 0x01
			if _, err := kr.Open(p.format(), place); err == nil {
				t.Fatalf("opened with byte %d flipped", i)
			}
			(*field)[i] ^= 0x01
			n++
		}
	}
	aad := []byte(place.TenantID + place.RecordID + place.Field)
	for i := range aad {
		b := bytes.Clone(aad)
		b[i] ^= 0x01
		q := Place{TenantID: string(b[:5]), RecordID: string(b[5:10]), Field: string(b[10:])}
		if _, err := kr.Open(s, q); err == nil {
			t.Fatalf("opened with associated data byte %d flipped", i)
		}
	}
	if _, err := kr.Open(p.format(), place); err != nil {
		t.Fatalf("untouched value does not open: %v", err)
	}
	if n < 60+12+16 {
		t.Fatalf("only %d cases", n)
	}
}

func TestWrongMasterKeyFails(t *testing.T) {
	s := ring(t, "k1:"+keyA).Seal([]byte("x"), place)
	if _, err := ring(t, "k1:"+keyB).Open(s, place); !errors.Is(err, ErrOpen) {
		t.Fatalf("same id, other key: err = %v", err)
	}
	if _, err := ring(t, keyB).Open(s, place); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other key: err = %v", err)
	}
}

func TestDataKeysAndNoncesAreNeverReused(t *testing.T) {
	kr := ring(t, keyA)
	wrapped, nonces := map[string]bool{}, map[string]bool{}
	const n = 10000
	for i := 0; i < n; i++ {
		p, err := parse(kr.Seal([]byte("same secret"), place))
		if err != nil {
			t.Fatal(err)
		}
		wrapped[string(p.wrapped)] = true
		nonces[string(p.nonce)] = true
	}
	if len(wrapped) != n || len(nonces) != n {
		t.Fatalf("%d distinct wrapped DEKs, %d distinct nonces over %d seals", len(wrapped), len(nonces), n)
	}
	if kr.Wraps(kr.Primary()) != n {
		t.Fatalf("wrap count %d, want %d", kr.Wraps(kr.Primary()), n)
	}
}

func TestRewrapMovesToTheNewKeyWithoutChangingTheValue(t *testing.T) {
	old := ring(t, keyA)
	s := old.Seal([]byte("whsec_x"), place)
	both := ring(t, keyB+","+keyA)
	if both.Current(s) {
		t.Fatal("value on the old key counted as current")
	}
	r, err := both.Rewrap(s)
	if err != nil {
		t.Fatal(err)
	}
	if !both.Current(r) {
		t.Fatal("rewrapped value not on the primary")
	}
	ps, _ := parse(s)
	pr, _ := parse(r)
	if !bytes.Equal(ps.nonce, pr.nonce) || !bytes.Equal(ps.payload, pr.payload) {
		t.Fatal("rewrap changed the value's ciphertext")
	}
	got, err := ring(t, keyB).Open(r, place)
	if err != nil || string(got) != "whsec_x" {
		t.Fatalf("new key alone: %q, %v", got, err)
	}
	if r2, _ := both.Rewrap(r); r2 != r {
		t.Fatal("rewrapping a current value changed it")
	}
}

func TestParseKeyringRefusesBadKeysWithoutEchoingThem(t *testing.T) {
	for _, bad := range []string{"", "short", strings.Repeat("z", 64), base64.StdEncoding.EncodeToString(make([]byte, 16)), "bad id!:" + keyA, "k:" + keyA + ",k:" + keyB} {
		_, err := ParseKeyring(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if len(bad) > 8 && strings.Contains(err.Error(), bad) {
			t.Errorf("error repeats the key: %v", err)
		}
	}
	kr := ring(t, "new:"+keyB+","+keyA)
	if got := kr.IDs(); got[0] != "new" || got[1] != KeyID(bytes.Repeat([]byte{0xa1}, 32)) {
		t.Fatalf("ids %v", got)
	}
}

func FuzzOpen(f *testing.F) {
	kr, _ := ParseKeyring(keyA)
	f.Add(string(kr.Seal([]byte("x"), place)))
	f.Add("ks1.a.b.c.d")
	f.Fuzz(func(t *testing.T, s string) {
		kr.Open(Sealed(s), place)
		kr.Rewrap(Sealed(s))
	})
}
