package outbox

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/blueshift-go/blueshift"
)

// outcome is what a failed delivery means for its customer.
type outcome int

const (
	// backOff retries the customer later, until the maximum age.
	backOff outcome = iota
	// permanent makes the entry dead: Blueshift refused it for good.
	permanent
	// configuration pauses all delivery: every entry would fail the same way.
	configuration
)

// classify applies the failure policy to a delivery's error (ctx of Run
// still alive).
func classify(err error) outcome {
	var reqErr *blueshift.RequestError
	switch {
	case errors.Is(err, blueshift.ErrMissingIdentifier), errors.Is(err, blueshift.ErrInvalidIdentifier),
		errors.Is(err, blueshift.ErrBadRequest), errors.Is(err, blueshift.ErrPayloadTooLarge),
		errors.Is(err, blueshift.ErrUnprocessableEntity):
		return permanent
	case errors.Is(err, blueshift.ErrUnauthorized), errors.Is(err, blueshift.ErrForbidden),
		errors.Is(err, blueshift.ErrRedirectRefused):
		return configuration
	case blueshift.IsRetryable(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return backOff
	case errors.As(err, &reqErr):
		// A call without an answer that the client calls hopeless: an
		// untrusted certificate, an unknown host, a foreign redirect.
		return configuration
	default: // 404 and statuses Blueshift does not document
		return backOff
	}
}

// deliver sends e's change before e's deadline and records the outcome,
// guarded by the lease. If the lease was lost after a request was sent,
// what was sent is marked uncertain and the customer made due again (see
// leaseLost), so that the latest state is sent after the stale one.
func (o *Outbox) deliver(ctx context.Context, e claimed) {
	if e.settling && e.opposite+o.s.lateApplyWindow.Milliseconds() <= e.deliveredAt && o.finishUnsent(ctx, e) {
		return
	}
	e.callStart = time.Now()
	callCtx, cancel := context.WithDeadline(ctx, e.deadline)
	var resp *blueshift.Response
	var err error
	if e.tracked {
		resp, err = o.client.StartTracking(callCtx, e.customer)
	} else {
		resp, err = o.client.StopTracking(callCtx, e.customer)
	}
	cancel()
	f := factsOf(resp, err)
	dbCtx, cancelDB := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancelDB()
	q := o.d.q
	uStart, uStop := e.uncertainFlags(f.uncertain > 0)
	switch {
	case err == nil:
		o.resume()
		o.recordDelivered(dbCtx, e, f)
		o.wake()
	case ctx.Err() != nil:
		o.m.count(ctx, outcomeReleased)
		o.guarded(dbCtx, e, f, "release lease", q.release, uStart, uStop, e.key, e.owner)
	case !f.reached && errors.Is(err, context.DeadlineExceeded):
		// Not sent is not failed: the call's deadline came before a request
		// could reach Blueshift (a rate-limit wait, a claim that waited): no
		// attempt counted, no backoff, no aging.
		o.mech.notSent.Add(1)
		o.s.logger.Info("outbox: a call's deadline came before its request could be sent; released without counting an attempt")
		o.m.count(ctx, outcomeReleased)
		o.guarded(dbCtx, e, f, "release unsent call", q.notSent, o.s.pollInterval.Milliseconds(), e.key, e.owner)
	default:
		o.failed(dbCtx, e, err, f)
	}
}

// finishUnsent ends a settling customer without a second send when the
// row was kept only to remember uncertain attempts of its own state and
// their window has passed: no attempt of the other state can land after
// the latest one. It reports false if the row changed meanwhile; the
// latest state is then sent as usual.
func (o *Outbox) finishUnsent(ctx context.Context, e claimed) bool {
	dbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	n, err := o.execN(dbCtx, o.d.q.deliveredDone, e.key, e.owner, e.version, o.s.lateApplyWindow.Milliseconds(), e.claimedAt)
	return err == nil && n == 1
}

// facts are what a call's result says about its attempts: whether one
// may have reached Blueshift, and how many may be applied without a
// definite answer.
type facts struct {
	reached   bool
	uncertain int
}

// factsOf reads a call's result.
func factsOf(resp *blueshift.Response, err error) facts {
	var apiErr *blueshift.APIError
	var reqErr *blueshift.RequestError
	switch {
	case err == nil:
		return facts{true, resp.Uncertain}
	case errors.As(err, &reqErr):
		return facts{reqErr.Uncertain > 0 || reqErr.Last != nil, reqErr.Uncertain}
	case errors.As(err, &apiErr):
		return facts{true, apiErr.Uncertain}
	}
	return facts{}
}

// uncertainFlags are the markUncertain arguments for e's state.
func (e claimed) uncertainFlags(uncertain bool) (start, stop int) {
	switch {
	case !uncertain:
		return 0, 0
	case e.tracked:
		return 1, 0
	default:
		return 0, 1
	}
}

// recordDelivered records that e's state was delivered: the customer is
// forgotten, or settles, or is pending again with a newer change.
func (o *Outbox) recordDelivered(ctx context.Context, e claimed, f facts) {
	q, w := o.d.q, o.s.lateApplyWindow.Milliseconds()
	if f.uncertain == 0 {
		if n, err := o.execN(ctx, q.deliveredDone, e.key, e.owner, e.version, w, e.claimedAt); err != nil {
			o.logDBError("record delivery", err)
			return
		} else if n == 1 {
			o.countDelivered(ctx, e)
			return
		}
	}
	uStart, uStop := e.uncertainFlags(f.uncertain > 0)
	self := min(f.uncertain, 1)
	settle := []any{w, self, w, w, w} // see settleUntil
	args := append([]any{uStart, uStop, e.claimedAt, e.version}, settle...)
	args = append(append(append(args, e.version), settle...), e.version, e.version, e.key, e.owner)
	n, err := o.execN(ctx, q.deliveredKeep, args...)
	switch {
	case err != nil:
		o.logDBError("record delivery", err)
	case n == 1:
		o.countDelivered(ctx, e)
	default:
		o.leaseLost(ctx, e)
	}
}

// failed records a failed delivery according to the failure policy.
func (o *Outbox) failed(ctx context.Context, e claimed, err error, f facts) {
	q, msg, kind := o.d.q, err.Error(), classify(err)
	if kind != configuration && o.probing() {
		o.resume() // the probe got past the configuration problem
	}
	uStart, uStop := e.uncertainFlags(f.uncertain > 0)
	switch kind {
	case permanent:
		o.m.count(ctx, outcomeDead)
		o.s.logger.Error("outbox: Blueshift refused a change for good; entry is dead", "version", e.version, "error", err)
		o.guarded(ctx, e, f, "record dead entry", q.dead, uStart, uStop, e.version, msg, e.key, e.owner)
	case configuration:
		o.m.count(ctx, outcomeReleased)
		o.pause(err)
		o.guarded(ctx, e, f, "release lease", q.release, uStart, uStop, e.key, e.owner)
	default:
		o.m.count(ctx, outcomeRetried)
		wait := o.backoff(e.attempts)
		o.s.logger.Debug("outbox: delivery failed; retrying the customer later", "attempts", e.attempts+1, "retry_in", wait, "error", err)
		o.guarded(ctx, e, f, "record failure", q.retry, uStart, uStop, e.version, o.s.maxAge.Milliseconds(),
			e.version, wait.Milliseconds(), msg, e.key, e.owner)
	}
}

// guarded runs a statement guarded by e's lease; if the lease was lost
// and the call had sent a request, it runs leaseLost.
func (o *Outbox) guarded(ctx context.Context, e claimed, f facts, what, query string, args ...any) {
	n, err := o.execN(ctx, query, args...)
	switch {
	case err != nil:
		o.logDBError(what, err)
	case n == 0 && f.reached:
		o.leaseLost(ctx, e)
	case n == 0:
		o.s.logger.Warn("outbox: lease lost before the outcome was recorded", "action", what)
	}
}

// leaseLost handles a request sent under a lease that was lost meanwhile
// (a stalled worker, a claim taken over): what was sent may land after the
// latest state, so it is marked uncertain and the customer made due again.
// The write is not lease-guarded and safe however many workers race.
func (o *Outbox) leaseLost(ctx context.Context, e claimed) {
	o.mech.leaseLost.Add(1)
	o.s.logger.Warn("outbox: lease lost after a request was sent; the customer's latest state will be sent again")
	uStart, uStop := e.uncertainFlags(true)
	if _, err := o.execN(ctx, o.d.q.leaseLost, uStart, uStop, e.key); err != nil {
		o.logDBError("mark a stale send", err)
	}
}

// execN runs a statement and returns how many rows it changed.
func (o *Outbox) execN(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := o.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// exec runs a statement guarded by a lease and reports whether it changed
// the row; an error is logged (the lease then expires by itself).
func (o *Outbox) exec(ctx context.Context, what, query string, args ...any) bool {
	n, err := o.execN(ctx, query, args...)
	if err != nil {
		o.logDBError(what, err)
		return false
	}
	return n == 1
}

// logDBError logs a statement that failed.
func (o *Outbox) logDBError(what string, err error) {
	o.s.logger.Warn("outbox: could not "+what+"; the lease will expire and the change will be sent again", "error", err)
}

// backoff is the wait after a customer's attempts+1-th failure: min·2^attempts
// capped at max, drawn uniformly from its upper half (jitter).
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.s.backoffMax
	if attempts < 40 {
		d = min(o.s.backoffMin<<attempts, o.s.backoffMax)
		if d <= 0 {
			d = o.s.backoffMax
		}
	}
	return d/2 + rand.N(d/2+1)
}
