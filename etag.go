package keyward

import (
	"context"
	"strconv"
	"strings"
)

// Versioned is embedded in records that clients may change: Version
// counts the record's writes (the store adds 1 on every update), and
// the record's ETag names it, so a client can send it back in If-Match
// and have a change refused when someone else changed the record first.
type Versioned struct {
	Version int64 `json:"-"`
}

// ETag returns the record's entity tag, or "" when its version is not
// known.
func (v Versioned) ETag() string { return ETag(v.Version) }

// ETag returns the strong entity tag of a version, such as "\"3\"".
func ETag(version int64) string {
	if version <= 0 {
		return ""
	}
	return strconv.Quote(strconv.FormatInt(version, 10))
}

// ETagMatches reports whether the If-Match header value ifMatch names
// version: "*" names any version, and a list names each of its tags.
// Weak tags (W/"…") never match, since If-Match compares strongly (RFC
// 9110, section 13.1.1).
func ETagMatches(ifMatch string, version int64) bool {
	want := ETag(version)
	for tag := range strings.SplitSeq(ifMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || (want != "" && tag == want) {
			return true
		}
	}
	return false
}

type ifMatchKey struct{}

// WithIfMatch returns ctx carrying the caller's If-Match precondition: a
// change or deletion made with it is refused (EPreconditionFailed) when
// the record's current ETag is not among the tags.
func WithIfMatch(ctx context.Context, ifMatch string) context.Context {
	return context.WithValue(ctx, ifMatchKey{}, ifMatch)
}

// IfMatch returns the If-Match precondition of ctx; "" means none.
func IfMatch(ctx context.Context) string {
	s, _ := ctx.Value(ifMatchKey{}).(string)
	return s
}
