package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// usageError is a command given wrongly. run prints the message first,
// then the usage that helps with it, and main prints nothing more.
type usageError struct{ msg, usage string }

func (e *usageError) Error() string { return e.msg }

// Is makes a usageError an errUsage, which main does not print again.
func (e *usageError) Is(target error) bool { return target == errUsage }

// commands returns the commands usageText names, such as "serve" and
// "keys list": the words before the first flag, "a|b" giving two.
func commands() []string {
	var out []string
	for _, line := range strings.Split(usageText, "\n") {
		rest, ok := strings.CutPrefix(line, "  keyward ")
		if !ok {
			continue
		}
		words := strings.Fields(rest)
		if len(words) < 2 || !isWord(words[1]) {
			out = append(out, words[0])
			continue
		}
		for _, sub := range strings.Split(words[1], "|") {
			out = append(out, words[0]+" "+sub)
		}
	}
	return out
}

// isWord reports whether s is a command word, not a flag or a bracket.
func isWord(s string) bool { return s != "" && s[0] >= 'a' && s[0] <= 'z' }

// checkCommand returns a usageError when args name no command: an
// unknown one, or a group of commands without one of them. The error
// names the nearest command when one is near.
func checkCommand(args []string) error {
	known := commands()
	first, groups := map[string]bool{}, map[string][]string{}
	for _, c := range known {
		top, sub, ok := strings.Cut(c, " ")
		first[top] = true
		if ok {
			groups[top] = append(groups[top], sub)
		}
	}
	top := args[0]
	subs, isGroup := groups[top]
	switch {
	case first[top] && !isGroup:
		return nil
	case isGroup && (len(args) < 2 || !isWord(args[1])):
		return &usageError{fmt.Sprintf("%q needs one of its commands", top), groupUsage(top)}
	case isGroup && slices.Contains(subs, args[1]):
		return nil
	case isGroup:
		msg := fmt.Sprintf("unknown command %q", top+" "+args[1])
		if s := nearest(args[1], subs); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", top+" "+s)
		}
		return &usageError{msg, groupUsage(top)}
	}
	msg := fmt.Sprintf("unknown command %q", top)
	if s := nearest(top, slices.Sorted(maps.Keys(first))); s != "" {
		if len(args) > 1 && slices.Contains(groups[s], args[1]) {
			s += " " + args[1]
		}
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return &usageError{msg, "Run \"keyward -h\" for every command.\n"}
}

// nearest returns the candidate a mistyped word most likely meant: the
// one it begins, or the closest within a third of its length in edits
// (a swap of two letters counting one); "" when none is near enough.
func nearest(word string, candidates []string) string {
	var prefixed []string
	for _, c := range candidates {
		if len(word) >= 2 && strings.HasPrefix(c, word) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	best, bestDist := "", (len(word)+2)/3+1
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// parseFlags parses args into fs. On a mistake it prints the error
// first, the nearest flag fs has for one it does not, then the flags;
// -h prints the flags. Both return errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printFlags(fs)
		return errUsage
	}
	fmt.Fprintln(out, err)
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if s := nearest(strings.TrimLeft(name, "-"), names); s != "" {
			fmt.Fprintf(out, "did you mean --%s?\n", s)
		}
	}
	printFlags(fs)
	return errUsage
}

// printFlags prints fs's usage as the flag package does.
func printFlags(fs *flag.FlagSet) {
	if fs.Usage != nil {
		fs.Usage()
		return
	}
	fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
	fs.PrintDefaults()
}
