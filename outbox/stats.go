package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blueshift-go/blueshift"
)

// ErrNotDead is returned by Retry for a customer that has no dead entry.
var ErrNotDead = errors.New("outbox: no dead entry for this customer")

// maxDeadListed bounds what Dead returns.
const maxDeadListed = 10000

// Stats is a snapshot of an Outbox.
type Stats struct {
	// Pending counts the customers whose latest change is neither
	// delivered nor dead, those in flight and backing off included.
	Pending int
	// Dead counts the customers whose delivery gave up (see Outbox.Dead).
	Dead int
	// Delivered counts the deliveries this Outbox completed since Open.
	Delivered int64
	// OldestPending is the age of the oldest undelivered change among the
	// pending customers, by the database's clock; 0 when none is pending.
	OldestPending time.Duration
	// Paused reports whether delivery is paused by a configuration
	// problem (a 401, 403, redirect, untrusted certificate or unknown host).
	Paused bool
}

// Stats counts the table's entries. It reads the whole table, so call it
// every few seconds at most.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	if o.closed.Load() {
		return Stats{}, ErrClosed
	}
	var st Stats
	var oldest, now int64
	if err := o.db.QueryRowContext(ctx, o.d.q.stats).Scan(&st.Pending, &st.Dead, &oldest, &now); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
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

// Dead lists the dead entries, oldest first (at most 10,000): changes
// Blueshift refused for good (400, 413, 422) or that failed for longer
// than the maximum age. Recording a new change for a customer, or Retry,
// makes it pending again.
func (o *Outbox) Dead(ctx context.Context) ([]Entry, error) {
	if o.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := o.db.QueryContext(ctx, o.d.q.listDead, maxDeadListed)
	if err != nil {
		return nil, fmt.Errorf("outbox: list dead: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var state int
		var since int64
		if err := rows.Scan(&e.Customer.Email, &e.Customer.CustomerID, &e.Customer.Cookie, &e.Customer.DeviceID,
			&state, &e.Version, &e.Attempts, &since, &e.LastError); err != nil {
			return nil, fmt.Errorf("outbox: list dead: %w", err)
		}
		e.Tracked, e.Since = state == 1, time.UnixMilli(since)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: list dead: %w", err)
	}
	return out, nil
}

// Retry makes the customer's dead entry pending again, with a fresh
// maximum age; it returns ErrNotDead if the customer has none.
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
