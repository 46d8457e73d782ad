package service

import (
	"encoding/base64"
	"strings"

	"github.com/keyward/keyward"
)

// encodeCursor is the next_cursor of a list ordered by value: opaque to
// clients, who send it back as it was given, and marked with the list's
// kind so that one list's cursor is refused by another.
func encodeCursor(kind, value string) string {
	return kind + "." + base64.RawURLEncoding.EncodeToString([]byte(value))
}

// decodeCursor reads a cursor encodeCursor made for kind; "" is the first
// page. Anything else is refused as invalid, naming the cursor.
func decodeCursor(kind, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(cursor, kind+".")
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if !ok || err != nil || len(b) == 0 || len(b) > 255 || !printableASCII(string(b)) {
		return "", keyward.Invalid("cursor", "cursor must be the next_cursor of a previous page, as it was given")
	}
	return string(b), nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// pageOf is the page of the first limit of items, read as limit+1 to know
// whether more follow, with the cursor of the next page of kind.
func pageOf[T any](kind string, items []T, limit int, id func(T) string) *Page[T] {
	p := &Page[T]{Data: items}
	if len(items) > limit {
		p.Data = items[:limit]
		p.NextCursor = encodeCursor(kind, id(items[limit-1]))
	}
	if p.Data == nil {
		p.Data = []T{}
	}
	return p
}
