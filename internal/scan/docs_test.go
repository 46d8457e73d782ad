package scan_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/secret"
)

// ruleRegexps reads the regular expressions of a rule file: the values of
// regex = ”'…”' (gitleaks) or secret: '…' (TruffleHog), by rule id.
func ruleRegexps(t *testing.T, path string, re *regexp.Regexp) map[string]*regexp.Regexp {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*regexp.Regexp{}
	id := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "id = "); ok {
			id = strings.Trim(v, `"`)
		}
		if v, ok := strings.CutPrefix(line, "- name: "); ok {
			id = v
		}
		if m := re.FindStringSubmatch(line); m != nil {
			out[id] = regexp.MustCompile(m[1])
		}
	}
	return out
}

// TestRuleFilesMatchGeneratedSecrets compiles the published gitleaks and
// TruffleHog rules with Go's regexp (RE2, the syntax both read) and checks
// that each finds freshly generated secrets of its kind, as a whole, in
// the places secrets are written.
func TestRuleFilesMatchGeneratedSecrets(t *testing.T) {
	gitleaks := ruleRegexps(t, "../../docs/examples/gitleaks.toml", regexp.MustCompile(`^regex = '''(.*)'''$`))
	trufflehog := ruleRegexps(t, "../../docs/examples/trufflehog.yaml", regexp.MustCompile(`^secret: '(.*)'$`))
	ids := map[secret.Kind]string{
		secret.KindAPIKey: "keyward-api-key", secret.KindPersonalToken: "keyward-personal-access-token",
		secret.KindOperatorToken: "keyward-operator-token", secret.KindMerchantKey: "keyward-merchant-auth-key",
		secret.KindSession: "keyward-session-id", secret.KindWebhookSecret: "keyward-webhook-secret",
	}
	if len(gitleaks) != len(secret.Kinds) {
		t.Errorf("gitleaks.toml has %d rules, want one per kind (%d)", len(gitleaks), len(secret.Kinds))
	}
	for _, k := range secret.Kinds {
		th := trufflehog["keyward"]
		if k == secret.KindWebhookSecret {
			th = trufflehog["keyward-webhook-secret"]
		}
		for range 50 {
			s := generate(k)
			for _, text := range []string{s, "KEY=" + s + "\n", `{"key":"` + s + `"}`, "Authorization: Bearer " + s} {
				if m := gitleaks[ids[k]].FindStringSubmatch(text); m == nil || m[1] != s {
					t.Fatalf("gitleaks rule %s finds %q in %q", ids[k], m, text)
				}
				if m := th.FindStringSubmatch(text); m == nil || m[1] != s {
					t.Fatalf("TruffleHog detector finds %q in %q", m, text)
				}
			}
		}
	}
}

// TestDocumentedChecksumRule implements the checksum rule as
// docs/secret-scanning.md words it, independently of internal/secret, and
// checks it against generated secrets; the page must give the patterns
// the code uses.
func TestDocumentedChecksumRule(t *testing.T) {
	doc, err := os.ReadFile("../../docs/secret-scanning.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{secret.PatternKeyward, secret.PatternWebhook} {
		if !strings.Contains(string(doc), "`"+p+"`") {
			t.Errorf("docs/secret-scanning.md does not give the pattern %s", p)
		}
	}
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	documented := func(s string) bool {
		if strings.HasPrefix(s, "whsec_") {
			raw, err := base64.StdEncoding.DecodeString(s[6:])
			return err == nil && len(raw) == 32 && binary.BigEndian.Uint32(raw[28:]) == crc32.ChecksumIEEE(raw[:28])
		}
		body, sum := s[:len(s)-6], s[len(s)-6:]
		c := crc32.ChecksumIEEE([]byte(body))
		var b [6]byte
		for i := 5; i >= 0; i-- {
			b[i] = digits[c%62]
			c /= 62
		}
		return string(b[:]) == sum
	}
	for _, k := range secret.Kinds {
		for range 100 {
			s := generate(k)
			if !documented(s) {
				t.Fatalf("%s fails the documented checksum rule", s[:6])
			}
			bad := []byte(s)
			bad[len(bad)-7] ^= 1
			if documented(string(bad)) || secret.Check(string(bad)) != 0 {
				t.Fatalf("a changed %s passes", k.Name())
			}
		}
	}
}

// TestGitleaksFindsGeneratedSecrets runs gitleaks, when it is installed,
// with the published rule file over generated secrets of every kind.
func TestGitleaksFindsGeneratedSecrets(t *testing.T) {
	bin, err := exec.LookPath("gitleaks")
	if err != nil {
		t.Skip("gitleaks is not installed")
	}
	dir := t.TempDir()
	want := map[string]bool{}
	var b strings.Builder
	for _, k := range secret.Kinds {
		s := generate(k)
		want[s] = true
		b.WriteString(k.Name() + " = \"" + s + "\"\n")
	}
	write(t, filepath.Join(dir, "secrets.txt"), b.String())
	report := filepath.Join(t.TempDir(), "report.json")
	out, _ := exec.Command(bin, "detect", "--no-git", "--config", "../../docs/examples/gitleaks.toml", "--source", dir,
		"--report-format", "json", "--report-path", report).CombinedOutput()
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("gitleaks wrote no report: %v\n%s", err, out)
	}
	var found []struct{ Secret string }
	if err := json.Unmarshal(raw, &found); err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		delete(want, f.Secret)
	}
	if len(want) > 0 || len(found) != len(secret.Kinds) {
		t.Errorf("gitleaks found %d secrets; missed %d", len(found), len(want))
	}
}
