package connector

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Redacted stands where a credential was.
const Redacted = "[redacted]"

// minForm is the shortest value redacted: shorter ones would blank
// ordinary words of an answer.
const minForm = 6

// Redactor blanks a connection's credentials in what an external system
// answers, in every form keyward sent them in: the secret values, the
// header and query values that carry them (a whole Authorization value,
// its token, Basic's user:pass), each also in UTF-16 and in base64 (standard or URL-safe,
// padded or not, and wherever it falls in a longer encoded text). An
// answer is searched as it is and once unescaped (percent-encoding, JSON
// and JavaScript escapes, HTML character references, repeatedly, so double
// encoding and mixes are read too; line breaks dropped), without regard to
// ASCII case.
type Redactor struct {
	forms [][]byte // ASCII lower case, longest first
}

// Redactor returns the redactor of the request sent, which carries c's
// credentials: c's secret values and values that are no field (a
// session's tokens), and every header or query value of sent holding one
// of them or named as a credential header. sent may be nil (probes, whose
// requests vary): then the secret values alone are redacted.
func (t *Type) Redactor(c Creds, sent *http.Request) *Redactor {
	var secrets []string
	for name, v := range c.Values {
		if f, ok := t.Field(name); (ok && !f.Secret) || len(v) < minForm {
			continue
		}
		secrets = append(secrets, v)
	}
	base := slices.Clone(secrets)
	if sent != nil {
		for name, vs := range sent.Header {
			cred := slices.ContainsFunc(CredentialHeaders, func(h string) bool { return strings.EqualFold(h, name) })
			for _, v := range vs {
				base = append(base, carried(v, cred, secrets)...)
			}
		}
		if sent.URL != nil {
			for _, vs := range sent.URL.Query() {
				for _, v := range vs {
					base = append(base, carried(v, false, secrets)...)
				}
			}
		}
	}
	seen := map[string]bool{}
	r := &Redactor{}
	for _, b := range base {
		if len(b) < minForm {
			continue
		}
		for _, f := range encodings(b) {
			f := lowerASCII(f)
			if len(f) >= minForm && !seen[string(f)] {
				seen[string(f)] = true
				r.forms = append(r.forms, f)
			}
		}
	}
	slices.SortFunc(r.forms, func(a, b []byte) int { return cmp.Compare(len(b), len(a)) })
	return r
}

// carried returns the forms in which a sent value carries a credential:
// the value, the token after its scheme, and decodings of the token that
// hold a secret (Basic's user:pass). A value carries none unless it holds
// a secret, in itself or decoded, or is a credential header's.
func carried(v string, credHeader bool, secrets []string) []string {
	// Cut before trimming: "Bearer " is a scheme without a token.
	scheme, tok, spaced := strings.Cut(v, " ")
	if !spaced {
		scheme, tok = "", v
	}
	tok = strings.TrimSpace(tok)
	holds := func(s string) bool {
		return slices.ContainsFunc(secrets, func(x string) bool { return strings.Contains(s, x) })
	}
	var out []string
	for _, d := range decodings(tok) {
		if holds(d) || strings.EqualFold(scheme, "Basic") {
			out = append(out, d)
		}
	}
	if len(out) > 0 || holds(v) || (credHeader && len(tok) >= minForm) {
		out = append(out, v, tok)
	}
	return out
}

var b64s = []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}

// decodings returns what s decodes to as base64 or percent-encoding.
func decodings(s string) []string {
	var out []string
	for _, e := range b64s {
		if d, err := e.DecodeString(s); err == nil && utf8.Valid(d) {
			out = append(out, string(d))
		}
	}
	if d, err := url.QueryUnescape(s); err == nil && d != s {
		out = append(out, d)
	}
	return out
}

// encodings returns s and its base64 forms: whole, and the part of it that
// does not depend on what precedes or follows s, for each of the three
// places s can start at in a longer encoded text.
func encodings(s string) []string {
	// Hex, as a debugging dump of the request would show it.
	out := []string{s, inUTF16(s, false), inUTF16(s, true), hex.EncodeToString([]byte(s))}
	for _, e := range b64s {
		out = append(out, e.EncodeToString([]byte(s)))
	}
	for k := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), s...))
		core := enc[(8*k+5)/6 : 8*(k+len(s))/6]
		out = append(out, core, strings.NewReplacer("+", "-", "/", "_").Replace(core))
	}
	return out
}

// inUTF16 returns s in UTF-16, little- or big-endian, as a system answering
// in that charset (a caller may ask for it) writes it.
func inUTF16(s string, big bool) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		if big {
			b = binary.BigEndian.AppendUint16(b, u)
		} else {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
	}
	return string(b)
}

// Bytes returns b with every form of a credential replaced by Redacted.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil || len(r.forms) == 0 || len(b) == 0 {
		return b
	}
	var spans [][2]int
	for _, v := range views(b) {
		for _, f := range r.forms {
			for i := 0; i <= len(v.text); {
				j := bytes.Index(v.text[i:], f)
				if j < 0 {
					break
				}
				spans = append(spans, [2]int{v.start(i + j), v.start(i + j + len(f))})
				i += j + 1
			}
		}
	}
	if len(spans) == 0 {
		return b
	}
	slices.SortFunc(spans, func(x, y [2]int) int { return cmp.Compare(x[0], y[0]) })
	var out []byte
	at := 0
	for _, s := range spans {
		if s[1] <= at || s[0] >= s[1] {
			continue
		}
		if s[0] >= at {
			out = append(out, b[at:s[0]]...)
			out = append(out, Redacted...)
		}
		at = s[1]
	}
	return append(out, b[at:]...)
}

// String is Bytes for a string.
func (r *Redactor) String(s string) string {
	if r == nil || len(r.forms) == 0 {
		return s
	}
	return string(r.Bytes([]byte(s)))
}

// view is a text as read one way (unescaped) with, for each of its bytes,
// where in the original it begins.
type view struct {
	text []byte
	from []int // nil: the original itself; else len(text)+1 offsets
}

func (v view) start(i int) int {
	if v.from == nil {
		return i
	}
	return v.from[i]
}

// views returns b lower-cased, and unescaped (repeatedly) with '+' kept
// and with '+' read as a space, as form encoding writes a space.
func views(b []byte) []view {
	vs := []view{{text: lowerASCII(b)}}
	if !bytes.ContainsAny(b, "%\\&+=\r\n") {
		return vs
	}
	for _, plus := range []bool{false, true} {
		v := vs[0]
		for range 4 {
			w, changed := unescape(v, plus)
			if !changed {
				break
			}
			v = w
		}
		if v.from != nil {
			vs = append(vs, v)
		}
	}
	return vs
}

// unescape decodes one layer of percent-encoding, quoted-printable, JSON
// and JavaScript escapes and HTML character references in v, and drops
// line breaks.
func unescape(v view, plus bool) (view, bool) {
	t := v.text
	w := view{text: make([]byte, 0, len(t)), from: make([]int, 0, len(t)+1)}
	changed := false
	for i := 0; i < len(t); {
		n, dec := escapeAt(t[i:], plus)
		if n == 0 {
			n, dec = 1, t[i:i+1]
		} else {
			changed = true
		}
		for k := range dec {
			if k == 0 {
				w.from = append(w.from, v.start(i))
			} else {
				w.from = append(w.from, v.start(i+n))
			}
		}
		w.text = append(w.text, dec...)
		i += n
	}
	w.from = append(w.from, v.start(len(t)))
	w.text = lowerASCII(w.text)
	return w, changed
}

var entities = map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'", "sol": "/", "plus": "+", "equals": "=", "colon": ":", "percnt": "%", "num": "#", "bsol": `\`}

// escapeAt reads an escape at the start of s: its length and what it
// stands for, or 0 when s starts with none.
func escapeAt(s []byte, plus bool) (int, []byte) {
	hex := func(h []byte) (rune, bool) {
		n, err := strconv.ParseUint(string(h), 16, 32)
		return rune(n), err == nil
	}
	switch {
	case s[0] == '\n' || s[0] == '\r':
		// No credential holds a line break: base64 wrapped in lines (as
		// MIME writes it) is read whole.
		return 1, nil
	case s[0] == '+' && plus:
		return 1, []byte{' '}
	case s[0] == '%' && len(s) >= 3:
		if c, ok := hex(s[1:3]); ok {
			return 3, []byte{byte(c)}
		}
	case s[0] == '=' && len(s) >= 3:
		// Quoted-printable. A literal value after "=" (a query's) is
		// still found in the view as written.
		if c, ok := hex(s[1:3]); ok {
			return 3, []byte{byte(c)}
		}
	case s[0] == '\\' && len(s) >= 2:
		switch s[1] {
		case '/', '"', '\\', '\'':
			return 2, s[1:2]
		case 'u':
			if len(s) >= 6 {
				if c, ok := hex(s[2:6]); ok {
					return 6, utf8.AppendRune(nil, c)
				}
			}
		case 'x':
			if len(s) >= 4 {
				if c, ok := hex(s[2:4]); ok {
					return 4, utf8.AppendRune(nil, c)
				}
			}
		}
	case s[0] == '&':
		end := bytes.IndexByte(s[:min(len(s), 12)], ';')
		if end < 2 {
			return 0, nil
		}
		name := string(s[1:end])
		if e, ok := entities[name]; ok {
			return end + 1, []byte(e)
		}
		var c uint64
		var err error
		if h, ok := strings.CutPrefix(strings.ToLower(name), "#x"); ok {
			c, err = strconv.ParseUint(h, 16, 32)
		} else if d, ok := strings.CutPrefix(name, "#"); ok {
			c, err = strconv.ParseUint(d, 10, 32)
		} else {
			return 0, nil
		}
		if err == nil && c <= utf8.MaxRune {
			return end + 1, utf8.AppendRune(nil, rune(c))
		}
	}
	return 0, nil
}

// lowerASCII lower-cases ASCII letters only, byte by byte, so offsets
// stay as they are whatever the text holds.
func lowerASCII[T string | []byte](s T) []byte {
	b := append([]byte(nil), s...) // a copy, even of a []byte
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}
