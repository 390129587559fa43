package outbox

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
	"time"

	"github.com/blueshift-go/blueshift"
)

// ErrNotDead is returned by Retry and Discard for a customer that has no
// dead entry.
var ErrNotDead = errors.New("outbox: no dead entry for this customer")

// deadPage is how many dead entries Dead reads per query.
const deadPage = 500

// mechanisms count how often the safety mechanisms fired (for tests and
// the invariant run).
type mechanisms struct {
	notSent   atomic.Int64 // calls that sent no request, released uncounted
	leaseLost atomic.Int64 // sends whose lease was lost meanwhile
}

// Stats is a snapshot of an Outbox.
type Stats struct {
	// Pending counts the customers whose latest change is neither
	// delivered nor dead, those in flight and backing off included.
	Pending int
	// Settling counts the customers whose latest state was delivered but
	// who are kept until the late-apply window of an uncertain attempt has
	// passed (see WithLateApplyWindow): then the latest state is sent once
	// more if that attempt was of the other state, and the row is deleted.
	Settling int
	// Dead counts the customers whose delivery gave up (see Outbox.Dead).
	Dead int
	// Delivered counts the deliveries this Outbox completed since Open
	// (re-assertions included); delivered customers leave no row.
	Delivered int64
	// OldestPending is the age of the oldest undelivered change among the
	// pending customers, by the database's clock; 0 when none is pending.
	// A dead customer made pending again (Retry, RetryAll, or a new change
	// recorded for it) counts from then, not from when its change was
	// first recorded: its age and its maximum age (WithMaxAge) restart.
	OldestPending time.Duration
	// Paused reports whether delivery is paused by a configuration
	// problem (a 401, 403, redirect, untrusted certificate or unknown host).
	Paused bool
}

// Stats counts the table's entries. It is cheap on any table size: the
// counts are kept by triggers and the oldest pending change is found
// through an index (a few milliseconds with 1,000,000 pending customers).
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	if o.closed.Load() {
		return Stats{}, ErrClosed
	}
	var st Stats
	var rows, oldest, now int64
	if err := o.db.QueryRowContext(ctx, o.d.q.stats).Scan(&st.Pending, &st.Settling, &st.Dead, &rows, &oldest, &now); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	if rows > compactAbove {
		o.compact(ctx, true)
	}
	st.OldestPending = time.Duration(max(now-oldest, 0)) * time.Millisecond
	st.Delivered = o.delivered.Load()
	st.Paused = o.pauseLeft() > 0
	return st, nil
}

// Entry is a customer's latest change that the outbox gave up delivering.
type Entry struct {
	// Customer is the customer, its identifiers trimmed.
	Customer blueshift.Customer
	// Tracked is the desired state: true to track, false to forget.
	Tracked bool
	// Version counts the changes recorded for the customer.
	Version int64
	// Attempts counts the failed deliveries of the latest change.
	Attempts int
	// Since is when the oldest undelivered change was recorded.
	Since time.Time
	// LastError is the error of the last attempt.
	LastError string
}

// Dead yields every dead entry, oldest first: changes Blueshift refused
// for good (400, 413, 422) or that failed for longer than the maximum
// age. It reads them in pages of a few hundred through an index, so memory
// stays bounded however many there are; entries that change while it runs
// may be seen or not. It yields one error and stops if a read fails.
// Recording a new change for a customer, Retry or RetryAll makes it
// pending again; Discard removes it. It is safe beside a live Run.
func (o *Outbox) Dead(ctx context.Context) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if o.closed.Load() {
			yield(Entry{}, ErrClosed)
			return
		}
		var since int64 = -1 << 62
		key := ""
		for {
			page, err := o.deadPage(ctx, since, key)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, p := range page {
				if !yield(p.Entry, nil) {
					return
				}
			}
			if len(page) < deadPage {
				return
			}
			last := page[len(page)-1]
			since, key = last.since, last.key
		}
	}
}

// deadRow is a dead entry and its keyset position.
type deadRow struct {
	Entry
	since int64
	key   string
}

// deadPage reads the dead entries after (since, key).
func (o *Outbox) deadPage(ctx context.Context, since int64, key string) ([]deadRow, error) {
	rows, err := o.db.QueryContext(ctx, o.d.q.listDead, since, since, key, deadPage)
	if err != nil {
		return nil, fmt.Errorf("outbox: list dead: %w", err)
	}
	defer rows.Close()
	var out []deadRow
	for rows.Next() {
		var r deadRow
		var state int
		if err := rows.Scan(&r.key, &r.Customer.Email, &r.Customer.CustomerID, &r.Customer.Cookie, &r.Customer.DeviceID,
			&state, &r.Version, &r.Attempts, &r.since, &r.LastError); err != nil {
			return nil, fmt.Errorf("outbox: list dead: %w", err)
		}
		r.Tracked, r.Since = state == 1, time.UnixMilli(r.since)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: list dead: %w", err)
	}
	return out, nil
}

// Discard removes the customer's dead entry and its identifiers, without
// delivering it; it returns ErrNotDead if the customer has none. Nothing
// is sent to Blueshift.
func (o *Outbox) Discard(ctx context.Context, customer blueshift.Customer) error {
	if err := customer.Validate(); err != nil {
		return err
	}
	if o.closed.Load() {
		return ErrClosed
	}
	res, err := o.db.ExecContext(ctx, o.d.q.discardDead, identityKey(customer))
	if err != nil {
		return fmt.Errorf("outbox: discard: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("outbox: discard: %w", err)
	} else if n == 0 {
		return ErrNotDead
	}
	return nil
}

// RetryAll makes every dead entry pending again, with a fresh maximum age,
// and returns how many it made pending. Their age restarts: see
// Stats.OldestPending.
func (o *Outbox) RetryAll(ctx context.Context) (int, error) {
	if o.closed.Load() {
		return 0, ErrClosed
	}
	res, err := o.db.ExecContext(ctx, o.d.q.retryAllDead)
	if err != nil {
		return 0, fmt.Errorf("outbox: retry all: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("outbox: retry all: %w", err)
	}
	if n > 0 {
		o.wake()
	}
	return int(n), nil
}

// Retry makes the customer's dead entry pending again, with a fresh
// maximum age; it returns ErrNotDead if the customer has none. Its age
// restarts: Stats.OldestPending and the delivery delay metric count from
// the retry.
func (o *Outbox) Retry(ctx context.Context, customer blueshift.Customer) error {
	if err := customer.Validate(); err != nil {
		return err
	}
	if o.closed.Load() {
		return ErrClosed
	}
	res, err := o.db.ExecContext(ctx, o.d.q.retryDead, identityKey(customer))
	if err != nil {
		return fmt.Errorf("outbox: retry: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("outbox: retry: %w", err)
	} else if n == 0 {
		return ErrNotDead
	}
	o.wake()
	return nil
}
