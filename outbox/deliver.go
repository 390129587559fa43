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

// deliver sends e's change with its own deadline and records the outcome,
// guarded by the lease: if the lease was lost, nothing is written.
func (o *Outbox) deliver(ctx context.Context, e claimed) {
	callCtx, cancel := context.WithTimeout(ctx, o.s.callTimeout())
	var err error
	if e.tracked {
		_, err = o.client.StartTracking(callCtx, e.customer)
	} else {
		_, err = o.client.StopTracking(callCtx, e.customer)
	}
	cancel()
	dbCtx, cancelDB := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancelDB()
	q := o.d.q
	switch {
	case err == nil:
		o.resume()
		if o.exec(dbCtx, "record delivery", q.delivered, e.version, e.version, e.version, e.key, e.owner) {
			o.delivered.Add(1)
		}
		o.wake()
	case ctx.Err() != nil:
		o.exec(dbCtx, "release lease", q.release, e.key, e.owner)
	default:
		o.failed(dbCtx, e, err)
	}
}

// failed records a failed delivery according to the failure policy.
func (o *Outbox) failed(ctx context.Context, e claimed, err error) {
	q, msg, kind := o.d.q, err.Error(), classify(err)
	if kind != configuration && o.probing() {
		o.resume() // the probe got past the configuration problem
	}
	switch kind {
	case permanent:
		o.s.logger.Error("outbox: Blueshift refused a change for good; entry is dead", "version", e.version, "error", err)
		o.exec(ctx, "record dead entry", q.dead, e.version, msg, e.key, e.owner)
	case configuration:
		o.pause(err)
		o.exec(ctx, "release lease", q.release, e.key, e.owner)
	default:
		wait := o.backoff(e.attempts)
		o.s.logger.Debug("outbox: delivery failed; retrying the customer later", "attempts", e.attempts+1, "retry_in", wait, "error", err)
		o.exec(ctx, "record failure", q.retry, e.version, o.s.maxAge.Milliseconds(), e.version, wait.Milliseconds(), msg, e.key, e.owner)
	}
}

// exec runs a statement guarded by a lease and reports whether it changed
// the row; an error is logged (the lease then expires by itself).
func (o *Outbox) exec(ctx context.Context, what, query string, args ...any) bool {
	res, err := o.db.ExecContext(ctx, query, args...)
	if err != nil {
		o.s.logger.Warn("outbox: could not "+what+"; the lease will expire and the change will be sent again", "error", err)
		return false
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		o.s.logger.Warn("outbox: lease lost before the outcome was recorded", "action", what)
	}
	return err == nil && n == 1
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
