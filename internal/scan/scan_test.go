package scan_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/secret"
)

// generate returns a new secret of kind k.
func generate(k secret.Kind) string {
	if k == secret.KindWebhookSecret {
		return secret.GenerateWebhookSecret()
	}
	return secret.Generate(k)
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFindsEveryKindInFilesAndHistory builds a repository in which a
// secret of every kind sits in the work tree, and another of every kind
// only in history: added then removed, and on a branch not checked out. Every one is found, each where it was put,
// and nothing else.
func TestFindsEveryKindInFilesAndHistory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")

	want := map[string]scan.Finding{} // by hint
	for _, k := range secret.Kinds {
		s := generate(k)
		path := filepath.Join(dir, "config", k.Name()+".env")
		write(t, path, "# settings\nNAME=x\nTOKEN="+s+"\n")
		want[secret.Hint(s)] = scan.Finding{Path: path, Line: 3, Kind: k.Name(), Hint: secret.Hint(s)}
	}
	write(t, filepath.Join(dir, "logo.bin"), "\x00\x01"+generate(secret.KindAPIKey)) // binary: skipped
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "config")

	removed := map[string]secret.Kind{}
	for _, k := range secret.Kinds {
		s := generate(k)
		write(t, filepath.Join(dir, "old.txt"), "a\nb\nvalue: \""+s+"\"\n")
		git(t, dir, "add", ".")
		git(t, dir, "commit", "-q", "-m", "add")
		removed[secret.Hint(s)] = k
		if err := os.Remove(filepath.Join(dir, "old.txt")); err != nil {
			t.Fatal(err)
		}
		git(t, dir, "add", "-A")
		git(t, dir, "commit", "-q", "-m", "remove")
	}
	git(t, dir, "checkout", "-q", "-b", "side")
	onBranch := generate(secret.KindAPIKey)
	write(t, filepath.Join(dir, "side.go"), "package side\n\nconst key = `"+onBranch+"`\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "side")
	git(t, dir, "checkout", "-q", "main")

	var files []scan.Finding
	if err := (&scan.Scanner{}).Files(dir, func(f scan.Finding) { files = append(files, f) }); err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("found %d secrets in files, want %d: %v", len(files), len(want), files)
	}
	for _, f := range files {
		if w, ok := want[f.Hint]; !ok || f != w {
			t.Errorf("found %+v, want %+v", f, w)
		}
	}

	if !scan.IsRepo(ctx, dir) {
		t.Fatal("IsRepo is false for a repository")
	}
	var hist []scan.Finding
	if err := scan.History(ctx, dir, func(f scan.Finding) { hist = append(hist, f) }); err != nil {
		t.Fatal(err)
	}
	got := map[string]scan.Finding{}
	for _, f := range hist {
		if len(f.Commit) != 40 {
			t.Errorf("finding %v names no commit", f)
		}
		got[f.Hint] = f
	}
	for h, k := range removed {
		f, ok := got[h]
		if !ok || f.Path != "old.txt" || f.Line != 3 || f.Kind != k.Name() {
			t.Errorf("history: secret %s (%s) found as %+v", h, k.Name(), f)
		}
	}
	if f := got[secret.Hint(onBranch)]; f.Path != "side.go" || f.Line != 3 {
		t.Errorf("history: the secret on another branch found as %+v", f)
	}
	for h, w := range want {
		if f := got[h]; f.Path != strings.TrimPrefix(w.Path, dir+"/") || f.Line != 3 {
			t.Errorf("history: committed secret %s found as %+v", h, f)
		}
	}
	if len(hist) != len(removed)+1+len(want) {
		t.Errorf("history: %d findings, want %d", len(hist), len(removed)+1+len(want))
	}
}

// TestStaged finds a secret staged for commit, as a pre-commit hook.
func TestStaged(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	s := generate(secret.KindMerchantKey)
	write(t, filepath.Join(dir, "a.yaml"), "x: 1\nkey: "+s+"\n")
	git(t, dir, "add", ".")
	var got []scan.Finding
	if err := scan.Staged(context.Background(), dir, func(f scan.Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	want := []scan.Finding{{Path: "a.yaml", Line: 2, Kind: "merchant_auth_key", Hint: secret.Hint(s)}}
	if !slices.Equal(got, want) {
		t.Errorf("staged: %+v, want %+v", got, want)
	}
}

// TestNoFalsePositives scans a corpus of random strings shaped like every
// kind (right prefix, length and alphabet) and finds none of them.
func TestNoFalsePositives(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	buf := make([]byte, 64)
	for i := range 20000 {
		rand.Read(buf)
		switch i % 6 {
		case 5:
			b.WriteString("whsec_" + base64.StdEncoding.EncodeToString(buf[:32]))
		default:
			b.WriteString(secret.Kinds[i%6].Prefix())
			for _, c := range buf[:49] {
				b.WriteByte(alphabet[int(c)%62])
			}
		}
		b.WriteString("\n")
	}
	// A real secret with one character changed is not one either.
	s := []byte(generate(secret.KindAPIKey))
	s[10] ^= 1
	b.Write(s)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "corpus.txt"), b.String())
	var got []scan.Finding
	if err := (&scan.Scanner{}).Files(dir, func(f scan.Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("found %d secrets in random strings: %v", len(got), got)
	}
}

// TestLargeFileSkipped reports a file over the size bound as skipped.
func TestLargeFileSkipped(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "big.txt"), strings.Repeat("x", 100)+generate(secret.KindAPIKey))
	var skipped []string
	n := 0
	s := &scan.Scanner{MaxSize: 100, Skipped: func(path, why string) { skipped = append(skipped, path) }}
	if err := s.Files(dir, func(scan.Finding) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(skipped) != 1 {
		t.Errorf("found %d, skipped %v; want the file skipped", n, skipped)
	}
}
