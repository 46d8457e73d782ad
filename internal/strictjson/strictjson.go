// Package strictjson refuses JSON that readers could take to mean
// different things: keyward reads every JSON input through it, so what it
// checks is what a proxy in front of it and an upstream behind it read.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// MaxDepth is how deeply JSON input may nest objects and arrays: 32
// levels, far more than any of keyward's inputs or an event's data need,
// and few enough that no reader in front of or behind keyward runs out of
// stack on them.
const MaxDepth = 32

// Check refuses JSON that two readers could take to mean different
// things, or that costs far more to read than its size: a member named
// twice in one object (duplicate_member), text that is not UTF-8 or a
// \u escape of half a surrogate pair (invalid_utf8), nesting deeper than
// MaxDepth (nesting_too_deep), anything but one value (invalid_argument).
// encoding/json would keep the last duplicate and turn the bad text into
// U+FFFD, so what keyward checks could differ from what a proxy in front
// of it or the upstream behind it reads.
func Check(data []byte) error { return check(data, nil) }

// CheckFor is Check for JSON read into v (a pointer, as json.Unmarshal
// takes); it also refuses a member of a struct that does not spell a field's name
// exactly: encoding/json matches names without regard to case (and
// folds "ſ" to "s"), so {"Name":…,"name":…} would set one field twice.
func CheckFor(data []byte, v any) error { return check(data, reflect.TypeOf(v)) }

func check(data []byte, t reflect.Type) error {
	s := scanner{data: data}
	s.space()
	if err := s.value(t, 0); err != nil {
		return err
	}
	s.space()
	if s.i != len(s.data) {
		return keyward.Errorf(keyward.EInvalid, "the body must hold exactly one JSON value; more follows at byte %d", s.i)
	}
	return nil
}

// scanner walks JSON text once, without building values.
type scanner struct {
	data []byte
	i    int
	path [][]byte // member names down to the current value, for errors
	buf  []byte   // a string with escapes, decoded
}

func (s *scanner) syntax(what string) error {
	if s.i >= len(s.data) {
		return keyward.Errorf(keyward.EInvalid, "the body is not valid JSON: it ends early")
	}
	return keyward.Errorf(keyward.EInvalid, "the body is not valid JSON: %s at byte %d", what, s.i)
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value reads one value, read into t (nil: any), nested depth levels in.
func (s *scanner) value(t reflect.Type, depth int) error {
	if s.i >= len(s.data) {
		return s.syntax("")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(t, depth+1)
	case c == '[':
		return s.array(t, depth+1)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	for _, lit := range literals {
		if bytes.HasPrefix(s.data[s.i:], lit) {
			s.i += len(lit)
			return nil
		}
	}
	return s.syntax("unexpected character " + strconv.QuoteRune(rune(s.data[s.i])))
}

var literals = [][]byte{[]byte("true"), []byte("false"), []byte("null")}

func (s *scanner) tooDeep() error {
	return &keyward.Error{Code: keyward.ETooDeep, Field: s.field(),
		Message: "the JSON nests objects and arrays more than " + strconv.Itoa(MaxDepth) + " levels deep"}
}

// field names the current member by its path, as "permissions.orders".
func (s *scanner) field() string { return string(bytes.Join(s.path, []byte("."))) }

func (s *scanner) object(t reflect.Type, depth int) error {
	if depth > MaxDepth {
		return s.tooDeep()
	}
	t = container(t)
	var fields *structFields
	if t != nil && t.Kind() == reflect.Struct {
		fields = fieldsOf(t)
	}
	s.i++ // {
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return nil
	}
	// Names seen so far: compared one by one while there are few, as
	// most objects have, then kept in a set.
	var seen [][]byte
	var set map[string]struct{}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return s.syntax("expected a member name")
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		s.path = append(s.path, name)
		dup := false
		if set != nil {
			if _, dup = set[string(name)]; !dup {
				set[string(name)] = struct{}{}
			}
		} else {
			for _, n := range seen {
				dup = dup || bytes.Equal(n, name)
			}
			if seen = append(seen, name); len(seen) > 16 {
				set = make(map[string]struct{}, 2*len(seen))
				for _, n := range seen {
					set[string(n)] = struct{}{}
				}
			}
		}
		if dup {
			return &keyward.Error{Code: keyward.EDuplicateMember, Field: s.field(),
				Message: "the member " + strconv.Quote(s.field()) + " is given more than once; give each member once"}
		}
		var vt reflect.Type
		if fields != nil {
			var ok bool
			if vt, ok = fields.byName[string(name)]; !ok {
				return keyward.Invalid(s.field(), "unknown field %q (names are case-sensitive); see the OpenAPI document at /api/v1/openapi.json", s.field())
			}
		} else if t != nil && t.Kind() == reflect.Map {
			vt = t.Elem()
		}
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.syntax("expected ':'")
		}
		s.i++
		s.space()
		if err := s.value(vt, depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		if done, err := s.next('}'); done || err != nil {
			return err
		}
	}
}

// next reads what follows a member or an element: a comma, or end, which
// closes the object or array (done).
func (s *scanner) next(end byte) (done bool, err error) {
	s.space()
	switch {
	case s.i >= len(s.data):
		return false, s.syntax("")
	case s.data[s.i] == ',':
		s.i++
		s.space()
		return false, nil
	case s.data[s.i] == end:
		s.i++
		return true, nil
	}
	return false, s.syntax("expected ',' or '" + string(end) + "'")
}

func (s *scanner) array(t reflect.Type, depth int) error {
	if depth > MaxDepth {
		return s.tooDeep()
	}
	var et reflect.Type
	if t = container(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		et = t.Elem()
	}
	s.i++ // [
	s.space()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := s.value(et, depth); err != nil {
			return err
		}
		if done, err := s.next(']'); done || err != nil {
			return err
		}
	}
}

// str reads a string and returns its decoded text, which is valid until
// the next string is read when it holds an escape.
func (s *scanner) str() ([]byte, error) {
	s.i++ // "
	start, plain := s.i, true
	s.buf = s.buf[:0]
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			text := s.buf
			if plain {
				text = s.data[start:s.i]
			}
			s.i++
			if !plain {
				// A name kept while its object is read must outlive the
				// buffer.
				text = bytes.Clone(text)
			}
			return text, nil
		case c < 0x20:
			return nil, s.syntax("a control character in a string")
		case c == '\\':
			if plain {
				s.buf = append(s.buf, s.data[start:s.i]...)
				plain = false
			}
			if err := s.escape(); err != nil {
				return nil, err
			}
		case c < utf8.RuneSelf:
			if !plain {
				s.buf = append(s.buf, c)
			}
			s.i++
		default:
			r, n := utf8.DecodeRune(s.data[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, s.badText()
			}
			if !plain {
				s.buf = append(s.buf, s.data[s.i:s.i+n]...)
			}
			s.i += n
		}
	}
	return nil, s.syntax("")
}

func (s *scanner) badText() error {
	return &keyward.Error{Code: keyward.EInvalidUTF8, Field: s.field(),
		Message: "the JSON holds text that is not valid UTF-8 (at byte " + strconv.Itoa(s.i) + "); send UTF-8, and escape no half of a surrogate pair alone"}
}

// escape reads the escape at s.i into s.buf.
func (s *scanner) escape() error {
	if s.i+1 >= len(s.data) {
		return s.syntax("")
	}
	switch c := s.data[s.i+1]; c {
	case '"', '\\', '/':
		s.buf = append(s.buf, c)
	case 'b':
		s.buf = append(s.buf, '\b')
	case 'f':
		s.buf = append(s.buf, '\f')
	case 'n':
		s.buf = append(s.buf, '\n')
	case 'r':
		s.buf = append(s.buf, '\r')
	case 't':
		s.buf = append(s.buf, '\t')
	case 'u':
		r, ok := s.hex(s.i + 2)
		if !ok {
			return s.syntax("a bad \\u escape")
		}
		if utf16.IsSurrogate(r) {
			// Half a pair is no character; only a high half followed
			// by a low half is.
			lo, ok := rune(-1), false
			if r < 0xdc00 && s.i+11 < len(s.data) && s.data[s.i+6] == '\\' && s.data[s.i+7] == 'u' {
				lo, ok = s.hex(s.i + 8)
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return s.badText()
			}
			r = utf16.DecodeRune(r, lo)
			s.i += 6
		}
		s.buf = utf8.AppendRune(s.buf, r)
		s.i += 6
		return nil
	default:
		return s.syntax("a bad escape")
	}
	s.i += 2
	return nil
}

// hex reads four hex digits at i.
func (s *scanner) hex(i int) (rune, bool) {
	if i+4 > len(s.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.data[i:i+4]), 16, 16)
	return rune(n), err == nil
}

func (s *scanner) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.data) && s.data[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return s.syntax("a bad number")
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.syntax("a bad number")
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.syntax("a bad number")
		}
	}
	return nil
}

// container is the type whose members or elements t's JSON value holds:
// t without pointers, or nil when a value of t reads itself or is any.
func container(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	return t
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// structFields are the JSON member names of a struct and their types.
type structFields struct{ byName map[string]reflect.Type }

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string]reflect.Type{}}
	addFields(f.byName, t)
	v, _ := fieldCache.LoadOrStore(t, f)
	return v.(*structFields)
}

// addFields adds the members of struct t, and of the structs it embeds
// without a name, to m; a name already there stays.
func addFields(m map[string]reflect.Type, t reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" && !strings.HasPrefix(f.Tag.Get("json"), "-,") {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && tag == "" && ft.Kind() == reflect.Struct {
			embedded = append(embedded, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name := tag
		if name == "" {
			name = f.Name
		}
		if _, ok := m[name]; !ok {
			m[name] = f.Type
		}
	}
	for _, e := range embedded {
		addFields(m, e)
	}
}
