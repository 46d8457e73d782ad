package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyward/keyward/internal/scan"
)

// exitError ends keyward with a status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errFound ends "keyward scan" with status 1 when it found a secret; it
// has printed them, so main prints nothing more.
var errFound = fmt.Errorf("secrets found: %w", errUsage)

// exitStatus is the status keyward ends with for err (not nil).
func exitStatus(err error) int {
	if e := (*exitError)(nil); errors.As(err, &e) {
		return e.code
	}
	return 1
}

// cliScan is "keyward scan PATH…": the keyward secrets in files and git
// history, checked by their checksum. It ends with status 1 when it finds
// any, 0 when it finds none, 2 when it cannot scan.
func cliScan(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := newFlagSet("scan", out)
	asJSON := fs.Bool("json", false, "print the findings as JSON lines")
	history := fs.Bool("history", true, "also scan the git history (every commit of every ref) of a PATH inside a git work tree")
	staged := fs.Bool("staged", false, "scan only the changes staged for commit, as a pre-commit hook does")
	maxSize := fs.Int64("max-size", scan.DefaultMaxSize, "skip files larger than this many bytes")
	if err := parseFlags(fs, args); err != nil {
		return &exitError{2, err}
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	n := 0
	enc := json.NewEncoder(out)
	found := func(f scan.Finding) {
		n++
		if *asJSON {
			_ = enc.Encode(f)
			return
		}
		fmt.Fprintln(out, f)
	}
	s := &scan.Scanner{MaxSize: *maxSize, Skipped: func(path, why string) {
		fmt.Fprintf(stderr, "keyward scan: skipped %s: %s\n", path, why)
	}}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return &exitError{2, err}
		}
		var err error
		switch {
		case *staged:
			err = scan.Staged(ctx, p, found)
		default:
			err = s.Files(p, found)
			if err == nil && *history && isDir(p) && scan.IsRepo(ctx, p) {
				err = scan.History(ctx, p, found)
			}
		}
		if err != nil {
			return &exitError{2, err}
		}
	}
	if n > 0 {
		if !*asJSON {
			fmt.Fprintf(stderr, "keyward scan: %d keyward secrets found; disable or roll each one (docs/secret-scanning.md)\n", n)
		}
		return errFound
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
