package service

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// precondition enforces the caller's If-Match (see keyward.WithIfMatch)
// on the record id of table before it is changed or deleted: a version
// that is not the current one is refused with precondition_failed and the
// current ETag, so the caller can fetch the record again and redo its
// change. It must run inside Write, where it locks the record.
func precondition(ctx context.Context, q *store.Q, table, id string) error {
	ifMatch := keyward.IfMatch(ctx)
	if ifMatch == "" {
		return nil
	}
	v, err := q.Version(ctx, table, id)
	if err != nil && keyward.ErrorCode(err) != keyward.ENotFound {
		return err
	}
	if keyward.ETagMatches(ifMatch, v) {
		return nil
	}
	return &keyward.Error{Code: keyward.EPreconditionFailed,
		Message: "This record was changed by someone else since the version you sent in If-Match; fetch it again, review the change and send yours with the new ETag.",
		Details: map[string]any{"current_etag": keyward.ETag(v)}}
}

// version sets a record's version, read inside the transaction that wrote
// it (or at any time for a read); a record not stored yet, such as a
// licence never granted, has none.
func version(ctx context.Context, q *store.Q, table, id string, v *keyward.Versioned) error {
	n, err := q.Version(ctx, table, id)
	if err != nil && keyward.ErrorCode(err) != keyward.ENotFound {
		return err
	}
	v.Version = n
	return nil
}
