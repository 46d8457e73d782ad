package secret

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	key, hook := Generate(KindAPIKey), GenerateWebhookSecret()
	cases := []struct {
		name, text string
		want       []string
	}{
		{"alone", key, []string{key}},
		{"quoted", `token: "` + key + `"`, []string{key}},
		{"in a URL", "https://x/?k=" + key + "&a=1", []string{key}},
		{"webhook secret", "SECRET=" + hook + "\n", []string{hook}},
		{"both", key + "," + hook, []string{key, hook}},
		{"glued before", "x" + key, nil},
		{"underscore before", "_" + key, nil},
		{"glued after", key + "Z", nil},
		{"changed character", key[:20] + string(key[20]^1) + key[21:], nil},
		{"truncated", key[:len(key)-1], nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, f := range Find([]byte(c.text)) {
				got = append(got, f.Secret)
				if c.text[f.Offset:f.Offset+len(f.Secret)] != f.Secret {
					t.Errorf("offset %d does not point at the secret", f.Offset)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("Find(%q) = %q, want %q", c.text, got, c.want)
			}
		})
	}
}

// A webhook secret carries a checksum, is still whsec_ and the base64 of
// 32 bytes (what receivers key their HMAC with), and its hint names it.
func TestWebhookSecret(t *testing.T) {
	s := GenerateWebhookSecret()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(raw) != 32 || !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("%q is not whsec_ and base64 of 32 bytes", s)
	}
	if Check(s) != KindWebhookSecret {
		t.Errorf("Check(%q) is not a webhook secret", s)
	}
	raw[3] ^= 1
	if bad := "whsec_" + base64.StdEncoding.EncodeToString(raw); Check(bad) != 0 {
		t.Errorf("a changed byte passes the checksum")
	}
	if h := Hint(s); h != "whsec_…"+s[len(s)-4:] {
		t.Errorf("Hint = %q", h)
	}
	for _, k := range Kinds {
		if k.Name() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}
