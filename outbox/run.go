package outbox

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
)

// dbTimeout bounds each statement Run makes after its context ended
// (releasing leases) and the recording of a delivery's outcome.
const dbTimeout = 5 * time.Second

// minIdle is the shortest wait of an idle Run: rows due but locked by
// another worker's statement are not polled in a tight loop.
const minIdle = 5 * time.Millisecond

// claimed is one customer's latest change, leased to this Outbox.
type claimed struct {
	key      string
	customer blueshift.Customer
	tracked  bool
	version  int64
	attempts int
	owner    string
	// claimedAt is the database's clock when the claim ran (Postgres: when
	// its transaction began, before any lock wait).
	claimedAt int64
	// pendingAt is when its oldest undelivered change was recorded, by
	// the database's clock (for the delivery delay metric).
	pendingAt int64
	// callStart is when deliver began the call.
	callStart time.Time
	// deadline ends the call: half the lease after just before the claim
	// was sent (monotonic), so a claim that waited never leaves the call
	// more time than its lease has left.
	deadline time.Time
	// settling is set when the claim is a re-assertion after the
	// late-apply window; deliveredAt is when the delivery it re-asserts
	// began, and opposite the last uncertain attempt of the other state.
	settling    bool
	deliveredAt int64
	opposite    int64
}

// Run delivers recorded changes until ctx ends, at most WithConcurrency at
// once and within the client's rate limit. When ctx ends it cancels the
// calls in flight, releases their customers for the next Run, and returns
// nil within a few seconds. Close stops it the same way, and Run then
// returns ErrClosed. With SQLite, Run checkpoints the WAL into the file
// and truncates it before it returns (see Close). Database errors are
// logged and retried; Run returns
// an error only when the Outbox is closed or already running.
func (o *Outbox) Run(ctx context.Context) error {
	if o.closed.Load() {
		return ErrClosed
	}
	if !o.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, finish := o.stoppable(ctx)
	defer func() {
		o.running.Store(false)
		finish() // last: Close, waiting on it, then finds Run done
	}()
	if !o.closed.Load() { // else closed before Close could see this Run
		if unlock, err := o.lockRun(ctx); err == nil {
			o.deliverUntilDone(ctx)
			o.checkpoint(ctx)
			unlock()
		} else if ctx.Err() == nil {
			o.s.logger.Error("outbox: cannot lock the SQLite file for delivery", "error", err)
			return err
		}
	}
	if o.closed.Load() {
		return ErrClosed
	}
	return nil
}

// stoppable returns a context that Close can end, and the function to call
// once Run has stopped delivering, which lets Close go on.
func (o *Outbox) stoppable(ctx context.Context) (context.Context, func()) {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	o.mu.Lock()
	o.stopRun, o.runDone = stop, done
	o.mu.Unlock()
	return ctx, func() { stop(); close(done) }
}

// deliverUntilDone is Run's loop: claim due customers and deliver them,
// until ctx ends; it returns when every delivery it started has ended.
func (o *Outbox) deliverUntilDone(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, o.s.concurrency)
	for ctx.Err() == nil {
		if left := o.pauseLeft(); left > 0 {
			o.sleep(ctx, left, false)
			continue
		}
		probing := o.probing()
		n := acquire(ctx, slots, probing, o.claimLimit(), o.freed)
		if n == 0 {
			break
		}
		entries, err := o.claim(ctx, n)
		for range n - min(len(entries), n) {
			<-slots
		}
		if len(entries) > n { // never expected: give back what has no slot
			o.releaseAll(ctx, entries[n:])
			entries = entries[:n]
		}
		if ctx.Err() != nil { // ended during the claim: give the claimed back
			o.releaseAll(ctx, entries)
			for range entries {
				<-slots
			}
			break
		}
		if err != nil {
			if ctx.Err() == nil {
				o.s.logger.Warn("outbox: claiming work failed; retrying", "error", err, "retry_in", o.s.pollInterval)
				o.sleep(ctx, o.s.pollInterval, false)
			}
			continue
		}
		o.compact(ctx, false)
		for _, e := range entries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer o.free(slots)
				o.deliver(ctx, e)
			}()
		}
		if probing && len(entries) > 0 {
			wg.Wait() // one delivery decides whether the pause goes on
		}
		if len(entries) < n {
			o.checkpointIfDue(ctx)
			o.sleep(ctx, o.untilDue(ctx), true)
		}
	}
}

// acquire takes one delivery slot, waiting for it and for fewer than
// limit deliveries in flight, and as many more as are free within limit
// (none while probing); it returns how many it took, 0 if ctx ended first.
func acquire(ctx context.Context, slots chan struct{}, probing bool, limit int, freed <-chan struct{}) int {
	for len(slots) >= limit {
		select {
		case <-freed:
		case <-ctx.Done():
			return 0
		}
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for !probing && n < cap(slots) && len(slots) < limit {
		select {
		case slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// free gives a delivery slot back and tells acquire.
func (o *Outbox) free(slots chan struct{}) {
	<-slots
	select {
	case o.freed <- struct{}{}:
	default:
	}
}

// claimLimit is how many deliveries may be in flight: WithConcurrency,
// and no more than the client's rate can serve within half a call's
// deadline, so that calls seldom end without sending a request.
func (o *Outbox) claimLimit() int {
	limit := o.s.concurrency
	if r := o.client.Rate(); r > 0 {
		limit = min(limit, max(1, int(r*o.s.callTimeout().Seconds()/2)))
	}
	return limit
}

// claim leases up to n due customers to this Outbox. It is not cut short
// by ctx (only bounded by dbTimeout), so that what it leased is known and
// can be released.
func (o *Outbox) claim(ctx context.Context, n int) ([]claimed, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	owner := o.owner + "-" + strconv.FormatInt(o.claims.Add(1), 36)
	deadline := time.Now().Add(o.s.callTimeout()) // before the claim is sent
	if o.claimHook != nil {
		o.claimHook()
	}
	rows, err := o.db.QueryContext(ctx, o.d.q.claim, owner, o.s.lease.Milliseconds(), n)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	defer rows.Close()
	var out []claimed
	for rows.Next() {
		e := claimed{owner: owner, deadline: deadline}
		var state int
		var settleAt int64
		if err := rows.Scan(&e.key, &e.customer.Email, &e.customer.CustomerID, &e.customer.Cookie, &e.customer.DeviceID,
			&state, &e.version, &e.attempts, &e.claimedAt, &settleAt, &e.deliveredAt, &e.opposite, &e.pendingAt); err != nil {
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
		e.tracked, e.settling = state == 1, settleAt > 0
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	return out, nil
}

// untilDue is how long an idle Run waits: until the next pending customer
// is due, at most the poll interval.
func (o *Outbox) untilDue(ctx context.Context) time.Duration {
	var ms int64
	if err := o.db.QueryRowContext(ctx, o.d.q.nextDue).Scan(&ms); err != nil {
		return o.s.pollInterval
	}
	return min(max(time.Duration(ms)*time.Millisecond, minIdle), o.s.pollInterval)
}

// sleep waits d, or until ctx ends, or (if wakeable) until a change is
// recorded through this Outbox.
func (o *Outbox) sleep(ctx context.Context, d time.Duration, wakeable bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var wake chan struct{}
	if wakeable {
		wake = o.wakeCh
	}
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
	}
}

// releaseAll gives the leases of entries back at once.
func (o *Outbox) releaseAll(ctx context.Context, entries []claimed) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	for _, e := range entries {
		o.exec(ctx, "release lease", o.d.q.release, 0, 0, e.key, e.owner)
	}
}
