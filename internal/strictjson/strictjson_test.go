package strictjson_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/strictjson"
)

func TestCheck(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		name, in string
		code     keyward.Code
		field    string
	}{
		{"object", `{"a":1,"b":[true,false,null,"x",-1.5e3],"c":{"a":2}}`, "", ""},
		{"same name in other objects", `{"a":{"a":1},"b":{"a":2}}`, "", ""},
		{"pair escaped", `{"a":"\ud83d\ude00"}`, "", ""},
		{"nested to the limit", deep(strictjson.MaxDepth), "", ""},
		{"duplicate", `{"permissions":{"orders":"read","orders":"write"}}`, keyward.EDuplicateMember, "permissions.orders"},
		{"duplicate spelled with an escape", `{"name":"a","n\u0061me":"b"}`, keyward.EDuplicateMember, "name"},
		{"duplicate among many", `{` + manyMembers(40) + `,"m7":0}`, keyward.EDuplicateMember, "m7"},
		{"invalid UTF-8 in a value", "{\"name\":\"a\xffb\"}", keyward.EInvalidUTF8, "name"},
		{"invalid UTF-8 in a name", "{\"n\xc3\":1}", keyward.EInvalidUTF8, ""},
		{"encoded surrogate", "{\"name\":\"\xed\xa0\x80\"}", keyward.EInvalidUTF8, "name"},
		{"lone high surrogate", `{"name":"\ud800"}`, keyward.EInvalidUTF8, "name"},
		{"lone low surrogate", `{"name":"\udc00x"}`, keyward.EInvalidUTF8, "name"},
		{"high then not low", `{"name":"\ud800\u0041"}`, keyward.EInvalidUTF8, "name"},
		{"too deep", deep(strictjson.MaxDepth + 1), keyward.ETooDeep, ""},
		{"too deep in objects", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), keyward.ETooDeep, strings.TrimSuffix(strings.Repeat("a.", 32), ".")},
		{"trailing value", `{"a":1}{"a":2}`, keyward.EInvalid, ""},
		{"trailing garbage", `{"a":1} x`, keyward.EInvalid, ""},
		{"syntax", `{"a":01}`, keyward.EInvalid, ""},
		{"control character", "{\"a\":\"\x01\"}", keyward.EInvalid, ""},
		{"byte order mark", "\xef\xbb\xbf{}", keyward.EInvalid, ""},
		{"empty", ``, keyward.EInvalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := strictjson.Check([]byte(c.in))
			if keyward.ErrorCode(err) != c.code {
				t.Fatalf("Check = %v, want code %q", err, c.code)
			}
			var e *keyward.Error
			if errors.As(err, &e) && c.field != "" && e.Field != c.field {
				t.Errorf("field = %q, want %q", e.Field, c.field)
			}
		})
	}
}

// A struct's members must be spelt as its fields are: encoding/json would
// set one field from "Name", "NAME" or "ſtore" alike.
func TestCheckForStruct(t *testing.T) {
	type inner struct {
		Store string `json:"store"`
	}
	type body struct {
		Name   string            `json:"name"`
		Inner  *inner            `json:"inner"`
		List   []inner           `json:"list"`
		Perms  map[string]string `json:"perms"`
		Any    json.RawMessage   `json:"any"`
		Plain  int
		hidden int
	}
	cases := []struct {
		name, in string
		code     keyward.Code
	}{
		{"exact", `{"name":"a","inner":{"store":"s"},"list":[{"store":"t"}],"perms":{"Orders":"x","orders":"y"},"any":{"Name":1},"Plain":1}`, ""},
		{"case", `{"name":"a","Name":"b"}`, keyward.EInvalid},
		{"case alone", `{"NAME":"a"}`, keyward.EInvalid},
		{"folded long s", `{"inner":{"ſtore":"s"}}`, keyward.EInvalid},
		{"in a list", `{"list":[{"Store":"s"}]}`, keyward.EInvalid},
		{"unexported", `{"hidden":1}`, keyward.EInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := strictjson.CheckFor([]byte(c.in), new(body)); keyward.ErrorCode(err) != c.code {
				t.Fatalf("CheckFor = %v, want code %q", err, c.code)
			}
		})
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + itoa(i) + `":0`)
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// What Check lets through is JSON encoding/json reads, and what
// encoding/json refuses as JSON, Check refuses too.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"\u00e9"}]}`, `{"a":1,"a":2}`, `"\ud800"`, `[[[]]]`, `-0.5e+3`, `{"a":"x"} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := strictjson.Check(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("Check let through what encoding/json refuses: %q", data)
		}
		if json.Valid(data) && keyward.ErrorCode(err) == keyward.EInvalid && !strings.Contains(err.Error(), "more follows") {
			t.Fatalf("Check refused valid JSON as a syntax error: %q: %v", data, err)
		}
	})
}
