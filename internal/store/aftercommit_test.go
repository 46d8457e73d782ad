package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// What a transaction asks to run after it commits runs once it has
// committed, and never when it rolls back.
func TestAfterCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var ran []string
		err := db.Write(ctx, func(q *store.Q) error {
			q.AfterCommit(func() { ran = append(ran, "committed") })
			if len(ran) != 0 {
				t.Error("ran before the commit")
			}
			return nil
		})
		if err != nil || len(ran) != 1 {
			t.Fatalf("after a commit: %v, ran %v", err, ran)
		}
		boom := errors.New("boom")
		err = db.Write(ctx, func(q *store.Q) error {
			q.AfterCommit(func() { ran = append(ran, "rolled back") })
			return boom
		})
		if !errors.Is(err, boom) || len(ran) != 1 {
			t.Fatalf("after a rollback: %v, ran %v", err, ran)
		}
		db.Read().AfterCommit(func() { ran = append(ran, "outside") })
		if len(ran) != 2 {
			t.Fatalf("outside a transaction: ran %v", ran)
		}
	})
}
