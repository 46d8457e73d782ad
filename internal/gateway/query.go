package gateway

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/keyward/keyward/internal/catalog"
)

// The gateway reads a query one way: pairs split on "&", each name and
// value percent-decoded once. A parameter the catalog gives meaning to (a
// store parameter, a list's owner filter, _method) must be spelled exactly
// so: any other spelling that some server reads as that name is refused,
// since the upstream would act on a value keyward never looked at. Servers
// differ in trimming spaces and control characters, cutting at NUL,
// reading "." and " " as "_" (PHP), "name[]" and "name[0]" as arrays,
// names in any case, "%uXXXX" escapes (IIS), overlong UTF-8, Unicode
// compatibility forms and decoding twice; foldName is the union of them.

// checkQuery refuses a raw query in which a parameter the catalog gives
// meaning to is spelled otherwise than exactly, is named in a pair split
// on ";", or could appear in a pair once the query is decoded twice.
func checkQuery(cat *catalog.Catalog, raw string) *refusal {
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if strings.IndexByte(pair, ';') >= 0 {
			for part := range strings.SplitSeq(pair, ";") {
				k, _, _ := strings.Cut(part, "=")
				if name, store := meaningOf(cat, k, true); name != "" {
					return queryRefusal(store, "The parameter "+name+" must be a plain name=value pair separated by &: some servers split on \";\" and some do not.")
				}
			}
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if name, store := meaningOf(cat, k, false); name != "" {
			return queryRefusal(store, "A query parameter name is another spelling of "+name+" (case, spaces, control characters, brackets, \".\", encoding): servers read it as "+name+"; spell it exactly "+name+", once.")
		}
		if hidesPairs(v) {
			for piece := range strings.FieldsFuncSeq(decodeAll(v), isPairSep) {
				k, _, _ := strings.Cut(piece, "=")
				if name, store := meaningOf(cat, k, true); name != "" {
					return queryRefusal(store, "A query value holds an encoded "+name+" parameter, which a server decoding twice reads as one; send it once, unencoded.")
				}
			}
		}
	}
	return nil
}

func queryRefusal(store bool, detail string) *refusal {
	if store {
		return ambiguousStore(detail)
	}
	return invalidRequest(detail)
}

func isPairSep(r rune) bool { return r == '&' || r == ';' }

// meaningOf returns the parameter the catalog gives meaning to that some
// server reads the raw name k as, and whether it is a store parameter; ""
// when there is none, or when k is exactly that name and exact is false.
func meaningOf(cat *catalog.Catalog, k string, exact bool) (name string, store bool) {
	lists := [...][]string{cat.StoreParams(), cat.OwnerFilters(), {overrideParam}}
	if plainName(k) {
		// Decoding leaves it as it is: only its case can differ.
		for i, names := range lists {
			for _, n := range names {
				if strings.EqualFold(k, n) && (exact || k != n) {
					return n, i == 0
				}
			}
		}
		return "", false
	}
	for i, names := range lists {
		for _, n := range names {
			if k == n && !exact {
				return "", false
			}
			if readsAs(k, n) {
				return n, i == 0
			}
		}
	}
	return "", false
}

// plainName reports whether a raw name is letters, digits, "_" and "-"
// only, which every server reads alike but for case.
func plainName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// readsAs reports whether some server could read the raw parameter name k
// as name: k decoded as often as it holds escapes, or any pair that
// decoding reveals in it.
func readsAs(k, name string) bool {
	want := foldName(name)
	for piece := range strings.FieldsFuncSeq(decodeAll(k), isPairSep) {
		piece, _, _ = strings.Cut(piece, "=")
		if foldMatch(foldName(piece), want) {
			return true
		}
	}
	return false
}

// hidesPairs reports whether a raw value holds an escape that decodes to a
// pair separator, directly or after decoding again.
func hidesPairs(v string) bool {
	for i := strings.IndexByte(v, '%'); i >= 0 && i+2 < len(v); {
		switch {
		case v[i+1] == '2' && (v[i+2] == '5' || v[i+2] == '6'), // %25, %26
			v[i+1] == '3' && (v[i+2] == 'b' || v[i+2] == 'B'), // %3B
			v[i+1] == 'u' || v[i+1] == 'U':                    // %uXXXX
			return true
		}
		j := strings.IndexByte(v[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// decodeAll percent-decodes s until it holds no escape (at most four
// times), as leniently as servers do: "+" is a space, an invalid escape is
// kept as it is, and "%uXXXX" is the UTF-16 unit XXXX.
func decodeAll(s string) string {
	for range 4 {
		if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
			return s
		}
		var b strings.Builder
		b.Grow(len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '+':
				b.WriteByte(' ')
			case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
				b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
			case c == '%' && i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') &&
				isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]):
				r := rune(unhex(s[i+2]))<<12 | rune(unhex(s[i+3]))<<8 | rune(unhex(s[i+4]))<<4 | rune(unhex(s[i+5]))
				b.WriteRune(r)
				i += 5
			default:
				b.WriteByte(c)
			}
		}
		if b.String() == s {
			return s
		}
		s = b.String()
	}
	return s
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// anyChar in a folded name stands for a character a server may read as
// any letter (a look-alike, an accented letter, invalid UTF-8).
const anyChar = 0xff

// foldName is the most lenient reading of a decoded parameter name: cut
// at NUL, in Unicode compatibility form (fullwidth letters, ligatures),
// overlong UTF-8 read as what it encodes, invisible characters and
// combining marks dropped, other non-ASCII characters as anyChar, in lower
// case, trimmed of spaces and control characters, without a "[…]" suffix,
// and with ".", spaces and control characters inside read as "_".
func foldName(k string) string {
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	if !isASCII(k) {
		k = norm.NFKC.String(k)
	}
	b := make([]byte, 0, len(k))
	for i := 0; i < len(k); {
		r, n := utf8.DecodeRuneInString(k[i:])
		if r == utf8.RuneError && n <= 1 {
			if o, m := overlong(k[i:]); m > 0 {
				r, n = o, m
			}
		}
		i += n
		switch {
		case r == 0:
			i = len(k)
			continue
		case r < utf8.RuneSelf:
			c := byte(r)
			switch {
			case c <= ' ' || c == 0x7f:
				c = ' '
			case c == '.':
				c = '_'
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			b = append(b, c)
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r):
		case unicode.IsSpace(r):
			b = append(b, ' ')
		default:
			b = append(b, anyChar)
		}
	}
	s := strings.Trim(string(b), " ")
	if i := strings.IndexByte(s, '['); i > 0 {
		s = strings.TrimRight(s[:i], " ")
	}
	return strings.ReplaceAll(s, " ", "_")
}

// overlong decodes an overlong UTF-8 sequence at the start of s, which
// lenient decoders read as the character it encodes; n is 0 when there is
// none.
func overlong(s string) (r rune, n int) {
	cont := func(i int) bool { return i < len(s) && s[i]&0xc0 == 0x80 }
	switch c := s[0]; {
	case c&0xe0 == 0xc0 && cont(1):
		return rune(c&0x1f)<<6 | rune(s[1]&0x3f), 2
	case c&0xf0 == 0xe0 && cont(1) && cont(2):
		return rune(c&0x0f)<<12 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), 3
	case c&0xf8 == 0xf0 && cont(1) && cont(2) && cont(3):
		return rune(c&0x07)<<18 | rune(s[1]&0x3f)<<12 | rune(s[2]&0x3f)<<6 | rune(s[3]&0x3f), 4
	}
	return 0, 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldMatch reports whether a folded name reads as want, anyChar
// standing for any character.
func foldMatch(got, want string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := 0; i < len(got); i++ {
		if got[i] != want[i] && got[i] != anyChar {
			return false
		}
	}
	return true
}

// storeValueOK reports whether a decoded store value is read alike by
// every server: no control character, no space at either end and no "%"
// left to decode again.
func storeValueOK(v string) bool {
	if strings.TrimSpace(v) != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f || c == '%' {
			return false
		}
	}
	return true
}
