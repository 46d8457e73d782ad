package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/secret"
)

// TestScanExitStatus: keyward scan ends with 1 and prints where and the
// hint (never the secret) when it finds a secret, 0 when clean, 2 when it
// cannot scan.
func TestScanExitStatus(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.txt")
	leak := filepath.Join(dir, "leak.txt")
	key := secret.Generate(secret.KindPersonalToken)
	os.WriteFile(clean, []byte("nothing here kwp_notasecret\n"), 0o644)
	os.WriteFile(leak, []byte("x\nAUTH="+key+"\n"), 0o644)

	scanOf := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"scan"}, args...), &out, &errOut)
		if err == nil {
			return 0, out.String()
		}
		return exitStatus(err), out.String()
	}
	if code, out := scanOf(clean); code != 0 || out != "" {
		t.Errorf("clean file: status %d, output %q", code, out)
	}
	code, out := scanOf(leak)
	if code != 1 || !strings.Contains(out, leak+":2: personal_token "+secret.Hint(key)) || strings.Contains(out, key) {
		t.Errorf("leaked token: status %d, output %q", code, out)
	}
	code, out = scanOf("--json", dir)
	var f struct{ Path, Kind, Hint string }
	if code != 1 || json.Unmarshal([]byte(out), &f) != nil || f.Path != leak || f.Hint != secret.Hint(key) {
		t.Errorf("--json: status %d, output %q", code, out)
	}
	if code, _ := scanOf(filepath.Join(dir, "missing")); code != 2 {
		t.Errorf("missing path: status %d, want 2", code)
	}
	if code, _ := scanOf("--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: status %d, want 2", code)
	}
}
