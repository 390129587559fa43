package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
)

// attemptWatch sits under the client, sees every attempt of every call,
// and reports an outage when limit attempts in a row, across all workers,
// failed with a transient error (network error, attempt timeout, or a
// status Blueshift says to retry) with no answer of any other kind between
// them. Counting attempts rather than records bounds the time to notice a
// black hole by about two attempt timeouts plus a backoff, instead of
// every record's retries.
type attemptWatch struct {
	base    http.RoundTripper
	limit   int
	timeout time.Duration

	mu       sync.Mutex
	failures int
	last     string
	onOutage func(error) // set by the bulk run; called once
	quiet    bool        // the run cut its calls: their errors are not Blueshift's
}

// newAttemptWatch returns a watch over a transport sized for concurrency
// calls in flight.
func newAttemptWatch(limit, concurrency int, timeout time.Duration) *attemptWatch {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = concurrency
	t.MaxIdleConnsPerHost = concurrency
	t.MaxIdleConns = max(t.MaxIdleConns, concurrency)
	return &attemptWatch{base: t, limit: limit, timeout: timeout}
}

// RoundTrip implements http.RoundTripper.
func (w *attemptWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(req)
	switch {
	case err != nil && errors.Is(context.Cause(req.Context()), context.Canceled):
		// cut by the run (or its caller), not a failure of Blueshift
	case err != nil && req.Context().Err() != nil:
		w.failed(fmt.Sprintf("no answer within --timeout %s", w.timeout))
	case err != nil:
		w.failed(errText(err))
	case transientStatus(resp.StatusCode):
		w.failed(fmt.Sprintf("status %d", resp.StatusCode))
	default:
		w.answered()
	}
	return resp, err
}

// transientStatus reports whether the library retries a status, asking it
// rather than keeping a second list.
func transientStatus(code int) bool {
	return blueshift.IsRetryable(&blueshift.APIError{StatusCode: code})
}

// failed counts a failed attempt.
func (w *attemptWatch) failed(why string) {
	w.mu.Lock()
	if w.quiet {
		w.mu.Unlock()
		return
	}
	w.failures++
	w.last = why
	var report func(error)
	if w.failures == w.limit && w.onOutage != nil {
		report = w.onOutage
	}
	n := w.failures
	w.mu.Unlock()
	if report != nil {
		report(&outageError{attempts: n, last: why})
	}
}

// answered resets the count: Blueshift answered.
func (w *attemptWatch) answered() {
	w.mu.Lock()
	w.failures = 0
	w.mu.Unlock()
}

// silence stops counting: the run is cutting its own calls.
func (w *attemptWatch) silence() {
	w.mu.Lock()
	w.quiet = true
	w.mu.Unlock()
}

// outageError stops a run in which many attempts in a row failed with
// transient errors.
type outageError struct {
	attempts int
	last     string
}

func (e *outageError) Error() string {
	return fmt.Sprintf("the last %d attempts, across all calls in flight, all failed (last: %s): Blueshift looks unreachable or overloaded", e.attempts, e.last)
}
