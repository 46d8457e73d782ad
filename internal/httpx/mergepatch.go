package httpx

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/strictjson"
)

// MergePatchType is the media type of a JSON Merge Patch (RFC 7396).
const MergePatchType = "application/merge-patch+json"

// Nuller is an update input that knows what removing one of its members
// means. DecodePatch calls Null for each top-level member the patch sets
// to null, after decoding the rest; Null sets the member's default or
// refuses a member that cannot be removed.
type Nuller interface {
	Null(member string) error
}

// DecodePatch reads a JSON Merge Patch (RFC 7396) into the update struct
// v: a member left out keeps its value, a member set to null is removed.
// The body may be sent as application/merge-patch+json or as plain JSON,
// read the same way (see BodyType); it must be a JSON object. Members are decoded
// strictly, as Decode does. A null member of a pointer field would read as
// "left out", so it goes to v's Null method (see Nuller), and is refused
// when v has none; fields of other kinds, such as keyward.NullableTime,
// read null themselves.
func DecodePatch(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := readBody(w, r, MaxBody)
	if err != nil {
		return err
	}
	return DecodePatchBytes(data, v)
}

// DecodePatchBytes reads the merge patch data into v as DecodePatch does.
func DecodePatchBytes(data []byte, v any) error {
	if err := strictjson.CheckFor(data, v); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &members) != nil {
		if err := decodeChecked(data, v); err != nil {
			return err
		}
		return keyward.Errorf(keyward.EInvalid, "a merge patch must be a JSON object naming the fields to change")
	}
	if err := decodeChecked(data, v); err != nil {
		return err
	}
	var nulls []string
	for name, raw := range members {
		if string(bytes.TrimSpace(raw)) == "null" && pointerField(v, name) {
			nulls = append(nulls, name)
		}
	}
	slices.Sort(nulls)
	for _, name := range nulls {
		n, ok := v.(Nuller)
		if !ok {
			return keyward.Invalid(name, "%s cannot be removed (null); leave it out to keep its value", name)
		}
		if err := n.Null(name); err != nil {
			return err
		}
	}
	return nil
}

// pointerField reports whether the member name of the struct v points to
// is read into a pointer field, where null and "left out" look the same.
func pointerField(v any, name string) bool {
	rt := reflect.TypeOf(v)
	if rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		return false
	}
	rt = rt.Elem()
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && tag != "-" && strings.EqualFold(cmp.Or(tag, f.Name), name) {
			return f.Type.Kind() == reflect.Pointer
		}
	}
	return false
}
