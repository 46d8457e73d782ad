// Package scan finds keyward secrets in files and in git history, for
// "keyward scan". A match counts only if its checksum holds
// (secret.Find), so random strings of the same shape are not reported.
package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/secret"
)

// DefaultMaxSize is the largest file read by default; larger files are
// skipped and reported as skipped.
const DefaultMaxSize = 10 << 20

// Finding is one secret found: where, and which kind. It holds the
// secret's hint, never the secret.
type Finding struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`
	Commit string `json:"commit,omitempty"` // set for a secret found in history
	Kind   string `json:"kind"`
	Hint   string `json:"hint"`
}

func (f Finding) String() string {
	where := f.Path + ":" + strconv.Itoa(f.Line)
	if f.Commit != "" {
		where = f.Commit[:min(12, len(f.Commit))] + ":" + where
	}
	return where + ": " + f.Kind + " " + f.Hint
}

// Scanner scans paths. The zero value reads files up to DefaultMaxSize.
type Scanner struct {
	// MaxSize bounds the size of a file read; 0 means DefaultMaxSize.
	MaxSize int64
	// Skipped, if set, is told of each file not read and why.
	Skipped func(path, why string)
}

// Files scans the file or directory tree at root. Directories named .git
// are not entered; files that look binary (a NUL byte in their first 8000
// bytes, as git decides) are skipped quietly, files over MaxSize through
// Skipped.
func (s *Scanner) Files(root string, found func(Finding)) error {
	max := s.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > max {
			s.skip(path, fmt.Sprintf("larger than %d bytes", max))
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			return nil // binary
		}
		for _, f := range secret.Find(b) {
			found(Finding{Path: path, Line: 1 + bytes.Count(b[:f.Offset], []byte{'\n'}), Kind: f.Kind.Name(), Hint: secret.Hint(f.Secret)})
		}
		return nil
	})
}

func (s *Scanner) skip(path, why string) {
	if s.Skipped != nil {
		s.Skipped(path, why)
	}
}

// IsRepo reports whether dir is inside a git work tree.
func IsRepo(ctx context.Context, dir string) bool {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// History scans every commit reachable from any ref of the repository at
// dir (git log -p --all), limited to the paths under dir: each secret is
// reported in the commit that added it, with the line it has there.
func History(ctx context.Context, dir string, found func(Finding)) error {
	return gitDiff(ctx, dir, found, "log", "-p", "--all", "--format=commit %H")
}

// Staged scans the changes staged for the next commit (git diff --cached),
// as a pre-commit hook does.
func Staged(ctx context.Context, dir string, found func(Finding)) error {
	return gitDiff(ctx, dir, found, "diff", "--cached")
}

// gitDiff runs git with args and scans the added lines of the patches it
// prints.
func gitDiff(ctx context.Context, dir string, found func(Finding), args ...string) error {
	name := args[0]
	args = append([]string{"-C", dir, "-c", "core.quotePath=false", name, "--no-color", "--no-ext-diff", "--no-textconv", "--unified=0"}, args[1:]...)
	cmd := exec.CommandContext(ctx, "git", append(args, "--", ".")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running git: %w", err)
	}
	perr := parsePatch(out, found)
	if perr != nil {
		_, _ = io.Copy(io.Discard, out)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return perr
}

// parsePatch reads the output of git log -p or git diff and reports the
// secrets on added lines.
func parsePatch(r io.Reader, found func(Finding)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var commit, path string
	line, header := 0, false
	for {
		l, err := br.ReadBytes('\n')
		if len(l) > 0 {
			l = bytes.TrimSuffix(l, []byte{'\n'})
			switch {
			case bytes.HasPrefix(l, []byte("commit ")):
				commit, path = string(l[7:]), ""
			case bytes.HasPrefix(l, []byte("diff --git ")):
				header, path = true, ""
			case header && bytes.HasPrefix(l, []byte("+++ ")):
				path = strings.TrimPrefix(string(l[4:]), "b/")
				if path == "/dev/null" {
					path = ""
				}
			case bytes.HasPrefix(l, []byte("@@ ")):
				line, header = hunkStart(l), false
			case !header && len(l) > 0 && l[0] == '+' && path != "":
				for _, f := range secret.Find(l[1:]) {
					found(Finding{Path: path, Line: line, Commit: commit, Kind: f.Kind.Name(), Hint: secret.Hint(f.Secret)})
				}
				line++
			case len(l) > 0 && l[0] == ' ':
				line++
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// hunkStart reads the first new line number of "@@ -a,b +c,d @@".
func hunkStart(l []byte) int {
	_, rest, ok := bytes.Cut(l, []byte(" +"))
	if !ok {
		return 0
	}
	end := bytes.IndexAny(rest, ", ")
	if end < 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(rest[:end]))
	return n
}
