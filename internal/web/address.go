package web

import "strings"

// readAddressLines reads an "Only from these addresses" box: one address
// or CIDR range a line; commas and blank lines are forgiven.
func readAddressLines(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// addressLines writes an allowlist into the box, one a line.
func addressLines(addrs []string) string { return strings.Join(addrs, "\n") }
