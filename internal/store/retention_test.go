package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Retention rolls old usage up without losing a request, removes old
// change-log entries but the newest, and removes old webhook events with
// their deliveries once none waits; each batch is bounded.
func TestRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
		write := func(fn func(q *store.Q) error) {
			t.Helper()
			if err := db.Write(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		// Three days of minutes for two keys, 2 requests a minute.
		start := now.Add(-72 * time.Hour)
		var total int64
		write(func(q *store.Q) error {
			for m := start; m.Before(now); m = m.Add(7 * time.Minute) {
				for _, k := range []string{"key_a", "key_b"} {
					if err := q.AddUsage(ctx, k, m, 2); err != nil {
						return err
					}
					total += 2
				}
			}
			return nil
		})
		r := store.Retention{Changes: 24 * time.Hour, UsageMinutes: 48 * time.Hour, UsageHours: 90 * 24 * time.Hour,
			UsageDays: 730 * 24 * time.Hour, WebhookEvents: 30 * 24 * time.Hour}
		var all store.Pruned
		rounds := 0
		for {
			p, err := db.Prune(ctx, r, now, 50)
			if err != nil {
				t.Fatal(err)
			}
			if p.UsageRolledUp > 50 {
				t.Fatalf("a batch of 50 rolled up %d rows", p.UsageRolledUp)
			}
			all.Changes += p.Changes
			all.UsageRolledUp += p.UsageRolledUp
			if p.Total() == 0 {
				break
			}
			if rounds++; rounds > 1000 {
				t.Fatal("pruning does not end")
			}
		}
		if all.UsageRolledUp == 0 || rounds < 2 {
			t.Fatalf("rolled up %d rows in %d rounds", all.UsageRolledUp, rounds)
		}
		var sum int64
		for _, k := range []string{"key_a", "key_b"} {
			buckets, err := db.Read().HourlyUsage(ctx, k, start.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range buckets {
				sum += b.Requests
			}
		}
		if sum != total {
			t.Fatalf("usage after roll-up: %d requests, want %d", sum, total)
		}
		// The newest minutes are kept as minutes: a second roll-up
		// changes nothing.
		if p, err := db.Prune(ctx, r, now, 50); err != nil || p.Total() != 0 {
			t.Fatalf("second prune: %+v %v", p, err)
		}
	})
}

// The change log keeps its newest entry whatever its age, so that a node
// that was away can tell what it missed.
func TestRetentionKeepsTheNewestChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.Write(ctx, func(q *store.Q) error {
			for range 3 {
				if err := q.AppendChange(ctx, "ten_1", "key", keyward.NewID("key"), time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last, err := db.Read().LastChange(ctx)
		if err != nil || last == 0 {
			t.Fatalf("no change recorded: %d %v", last, err)
		}
		for range 3 {
			if _, err := db.Prune(ctx, store.Retention{Changes: time.Hour}, time.Now().Add(48*time.Hour), 100); err != nil {
				t.Fatal(err)
			}
		}
		changes, err := db.Read().ChangesAfter(ctx, 0, 10)
		if err != nil || len(changes) != 1 || changes[0].Seq != last {
			t.Fatalf("after pruning everything: %+v %v; want the newest change %d", changes, err, last)
		}
	})
}

// Old webhook events go with their deliveries and attempts, but not while
// one of their deliveries waits to be sent. The test reports what an
// event with one delivery and one attempt costs on disk.
func TestRetentionRemovesOldWebhookEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		old := now.Add(-40 * 24 * time.Hour)
		ten := &keyward.Tenant{ID: keyward.NewID("ten"), Domain: "acme", Name: "Acme", CreatedAt: old}
		ep := &keyward.WebhookEndpoint{ID: keyward.NewID("whe"), TenantID: ten.ID, URL: "https://hooks.example.com/in",
			Events: []string{"key.*"}, Enabled: true, Stores: keyward.StoreAccess{Access: keyward.StoresAll}, CreatedAt: old, UpdatedAt: old}
		const events = 400
		before := dbBytes(t, db)
		err := db.Write(ctx, func(q *store.Q) error {
			if err := q.InsertTenant(ctx, ten); err != nil {
				return err
			}
			if err := q.InsertWebhook(ctx, ep, ""); err != nil {
				return err
			}
			for i := range events {
				e := &keyward.Event{ID: keyward.NewID("evt"), Type: "key.updated", Timestamp: old, Stores: []string{"main"},
					Data: []byte(`{"key":{"id":"key_01JEXAMPLE0000000000000000","name":"demo-THQ","enabled":false}}`)}
				payload := []byte(`{"id":"` + e.ID + `","type":"key.updated","timestamp":"2026-10-29T12:00:00Z","data":{"key":{"id":"key_01JEXAMPLE0000000000000000","name":"demo-THQ","enabled":false}}}`)
				if err := q.InsertEvent(ctx, ten.ID, e, payload); err != nil {
					return err
				}
				d := keyward.NewID("dlv")
				if err := q.InsertDelivery(ctx, d, ten.ID, ep.ID, e.ID, old); err != nil {
					return err
				}
				if i == 0 {
					continue // the first stays pending
				}
				if err := q.RecordAttempt(ctx, &store.Attempt{DeliveryID: d, EndpointID: ep.ID, Attempt: 1, At: old, StatusCode: 200,
					Latency: 40 * time.Millisecond, Response: `{"ok":true}`, Status: keyward.DeliverySucceeded}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: about %d bytes per event with one delivery and one attempt", db.Engine(), (dbBytes(t, db)-before)/events)
		var removed int64
		for {
			p, err := db.Prune(ctx, store.Retention{WebhookEvents: 30 * 24 * time.Hour}, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			if p.WebhookEvents > 100 {
				t.Fatalf("a batch of 100 removed %d events", p.WebhookEvents)
			}
			if removed += p.WebhookEvents; p.Total() == 0 {
				break
			}
		}
		if removed != events-1 {
			t.Fatalf("removed %d events, want %d (all but the one waiting)", removed, events-1)
		}
		left, err := db.Read().ListDeliveries(ctx, ep.ID, "", now, "", 1000)
		if err != nil || len(left) != 1 || left[0].Status != keyward.DeliveryPending {
			t.Fatalf("deliveries left: %v %v; want the pending one", left, err)
		}
	})
}

// dbBytes is the space the database's tables take.
func dbBytes(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	q := `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	if db.Engine() == store.Postgres {
		q = `SELECT pg_total_relation_size('webhook_events') + pg_total_relation_size('webhook_deliveries') + pg_total_relation_size('webhook_attempts')`
	} else if _, err := db.SQL().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
