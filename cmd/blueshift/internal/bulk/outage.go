package bulk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
)

// AttemptWatch sits under the client, sees every attempt of every call,
// and reports an outage when attempts fail in a row, across all workers,
// with a transient error (network error, attempt timeout, or a status
// Blueshift says to retry) and no answer of any other kind between them:
// noAnswer attempts in a row that got no answer at all (a black hole, a
// network down), or anyLimit failed attempts in a row of any transient
// kind (Blueshift answering 429 or 503 to everything). Counting attempts
// rather than records bounds the time to notice a black hole by about two
// attempt timeouts plus a backoff, instead of every record's retries.
type AttemptWatch struct {
	base     http.RoundTripper
	noAnswer int
	anyLimit int
	timeout  time.Duration

	mu         sync.Mutex
	failures   int // failed attempts in a row
	unanswered int // of which got no answer
	reported   bool
	onOutage   func(error) // set by the bulk run
	quiet      bool        // the run cut its calls: their errors are not Blueshift's
}

// NewAttemptWatch returns a watch over a transport sized for concurrency
// calls in flight.
func NewAttemptWatch(noAnswer, anyLimit, concurrency int, timeout time.Duration) *AttemptWatch {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = concurrency
	t.MaxIdleConnsPerHost = concurrency
	t.MaxIdleConns = max(t.MaxIdleConns, concurrency)
	return &AttemptWatch{base: t, noAnswer: noAnswer, anyLimit: anyLimit, timeout: timeout}
}

// RoundTrip implements http.RoundTripper.
func (w *AttemptWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(req)
	switch {
	case err != nil && errors.Is(context.Cause(req.Context()), context.Canceled):
		// cut by the run (or its caller), not a failure of Blueshift
	case err != nil && req.Context().Err() != nil:
		w.failed(fmt.Sprintf("no answer within --timeout %s", w.timeout), false)
	case err != nil:
		w.failed(ErrText(err), false)
	case transientStatus(resp.StatusCode):
		w.failed(fmt.Sprintf("status %d", resp.StatusCode), true)
	default:
		w.answered()
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the transport under
// the watch, so that the client can drop a pool of dead keep-alive
// connections.
func (w *AttemptWatch) CloseIdleConnections() {
	if t, ok := w.base.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// transientStatus reports whether the library retries a status, asking it
// rather than keeping a second list.
func transientStatus(code int) bool {
	return blueshift.IsRetryable(&blueshift.APIError{StatusCode: code})
}

// failed counts a failed attempt, which got an answer (a status) or not.
func (w *AttemptWatch) failed(why string, answered bool) {
	w.mu.Lock()
	if w.quiet || w.reported {
		w.mu.Unlock()
		return
	}
	w.failures++
	if !answered {
		w.unanswered++
	}
	var report func(error)
	if w.unanswered >= w.noAnswer || w.failures >= w.anyLimit {
		w.reported, report = true, w.onOutage
	}
	n := w.failures
	w.mu.Unlock()
	if report != nil {
		report(&OutageError{attempts: n, last: why})
	}
}

// answered resets the count: Blueshift answered.
func (w *AttemptWatch) answered() {
	w.mu.Lock()
	w.failures, w.unanswered = 0, 0
	w.mu.Unlock()
}

// silence stops counting: the run is cutting its own calls.
func (w *AttemptWatch) silence() {
	w.mu.Lock()
	w.quiet = true
	w.mu.Unlock()
}

// OutageError stops a run in which many attempts in a row failed with
// transient errors.
type OutageError struct {
	attempts int
	last     string
}

// Error says how many attempts failed in a row, and the last failure.
func (e *OutageError) Error() string {
	return fmt.Sprintf("the last %d attempts, across all calls in flight, all failed (last: %s): Blueshift looks unreachable or overloaded", e.attempts, e.last)
}
