package store

import (
	"context"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// Retention says how long the tables that grow with traffic keep their
// rows; a zero duration keeps them for ever.
type Retention struct {
	// Changes is how long the change log keeps an entry. Its newest entry
	// always stays, so a node that was away longer can tell it missed
	// some and reload its replica.
	Changes time.Duration
	// UsageMinutes is how long usage is kept per minute before it is
	// rolled up into hours; UsageHours, before hours are rolled up into
	// days; UsageDays, before days are deleted.
	UsageMinutes, UsageHours, UsageDays time.Duration
	// WebhookEvents is how long an event is kept, with its deliveries and
	// their attempts, once none of its deliveries is waiting to be sent.
	WebhookEvents time.Duration
}

// Pruned counts the rows one Prune removed or rolled up.
type Pruned struct {
	Changes, UsageRolledUp, UsageDeleted, WebhookEvents int64
}

// Total is every row Prune touched; 0 means nothing is left to prune.
func (p Pruned) Total() int64 {
	return p.Changes + p.UsageRolledUp + p.UsageDeleted + p.WebhookEvents
}

// Add counts o's rows in p too.
func (p *Pruned) Add(o Pruned) {
	p.Changes += o.Changes
	p.UsageRolledUp += o.UsageRolledUp
	p.UsageDeleted += o.UsageDeleted
	p.WebhookEvents += o.WebhookEvents
}

// Usage spans, in seconds.
const (
	spanMinute = 60
	spanHour   = 3600
	spanDay    = 86400
)

// Prune applies r once, at most batch rows of each kind, each kind in a
// transaction of its own so that writers wait at most one short batch.
// Callers repeat it, pausing between calls, until it touches nothing.
func (db *DB) Prune(ctx context.Context, r Retention, now time.Time, batch int) (Pruned, error) {
	var p Pruned
	steps := []struct {
		keep time.Duration
		do   func(q *Q, before time.Time) (Pruned, error)
	}{
		{r.Changes, func(q *Q, before time.Time) (Pruned, error) {
			n, err := q.deleteOld(ctx, `DELETE FROM changes WHERE seq IN (SELECT seq FROM changes
				WHERE at < ? AND seq < (SELECT MAX(seq) FROM changes) ORDER BY seq LIMIT ?)`, before, batch)
			return Pruned{Changes: n}, err
		}},
		{r.UsageMinutes, func(q *Q, before time.Time) (Pruned, error) {
			n, err := q.rollUpUsage(ctx, spanMinute, spanHour, before, batch)
			return Pruned{UsageRolledUp: n}, err
		}},
		{r.UsageHours, func(q *Q, before time.Time) (Pruned, error) {
			n, err := q.rollUpUsage(ctx, spanHour, spanDay, before, batch)
			return Pruned{UsageRolledUp: n}, err
		}},
		{r.UsageDays, func(q *Q, before time.Time) (Pruned, error) {
			n, err := q.deleteOld(ctx, `DELETE FROM key_usage WHERE (key_id, minute) IN (SELECT key_id, minute FROM key_usage
				WHERE span = `+strconv.Itoa(spanDay)+` AND minute < ? ORDER BY minute LIMIT ?)`, before, batch)
			return Pruned{UsageDeleted: n}, err
		}},
		{r.WebhookEvents, func(q *Q, before time.Time) (Pruned, error) {
			n, err := q.deleteOld(ctx, `DELETE FROM webhook_events WHERE id IN (SELECT e.id FROM webhook_events e
				WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = '`+
				keyward.DeliveryPending+`') ORDER BY e.created_at LIMIT ?)`, before, batch)
			return Pruned{WebhookEvents: n}, err
		}},
	}
	for _, s := range steps {
		if s.keep <= 0 {
			continue
		}
		err := db.Write(ctx, func(q *Q) error {
			n, err := s.do(q, now.Add(-s.keep).UTC())
			p.Add(n)
			return err
		})
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func (q *Q) deleteOld(ctx context.Context, query string, before time.Time, batch int) (int64, error) {
	res, err := q.exec(ctx, query, before, batch)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// rollUpUsage folds up to batch usage rows of span from, older than
// before, into rows of span to: each row's requests are added to its
// key's row for the longer span, and the row is deleted. A row that
// already starts the longer span becomes that row.
func (q *Q) rollUpUsage(ctx context.Context, from, to int, before time.Time, batch int) (int64, error) {
	rows, err := q.query(ctx, `SELECT key_id, minute, requests FROM key_usage WHERE span = ? AND minute < ? ORDER BY minute LIMIT ?`,
		from, before, batch)
	if err != nil {
		return 0, err
	}
	type bucket struct {
		key   string
		start time.Time
	}
	type row struct {
		key    string
		minute time.Time
	}
	var old []row
	var requests []int64
	for rows.Next() {
		var r row
		var n int64
		if err := rows.Scan(&r.key, &r.minute, &n); err != nil {
			rows.Close()
			return 0, err
		}
		old, requests = append(old, r), append(requests, n)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, normalise(err)
	}
	// Only rows this transaction deleted are added up: another node
	// pruning at once may have rolled some up already.
	sums := map[bucket]int64{}
	var done int64
	for i, r := range old {
		res, err := q.exec(ctx, `DELETE FROM key_usage WHERE key_id = ? AND minute = ? AND span = ?`, r.key, r.minute.UTC(), from)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			continue
		}
		done++
		sums[bucket{r.key, r.minute.UTC().Truncate(time.Duration(to) * time.Second)}] += requests[i]
	}
	for b, n := range sums {
		if _, err := q.exec(ctx, `INSERT INTO key_usage (key_id, minute, requests, span) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, minute) DO UPDATE SET requests = key_usage.requests + excluded.requests, span = excluded.span`,
			b.key, b.start, n, to); err != nil {
			return 0, err
		}
	}
	return done, nil
}
