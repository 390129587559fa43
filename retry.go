package blueshift

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// checkRetry is the go-retryablehttp CheckRetry policy, called after every
// attempt. It reads and closes the body of each non-2xx response (bounded
// to 64 KiB) into an *APIError, keeps it as the call's last answer, and
// says whether to retry:
//
//   - 2xx: done;
//   - 409, 429, 500, 502, 503, 504: retry;
//   - any other status, 3xx included: final;
//   - network errors: retry, except TLS certificate, redirect and
//     malformed-request errors, and a host name that does not exist;
//   - a cancelled or expired context: stop at once.
//
// A retry also needs the client's retry budget to allow it.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (retry bool, _ error) {
	st := callFrom(ctx)
	st.attempts++
	st.countUncertain(resp, err)
	c.learnRate(ctx, st, resp, err) // ratecontrol.go: the adaptive rate learns each outcome
	if c.hooks != nil {
		defer c.attemptDone(ctx, st, resp, err, &retry) // hooks.go
	}
	if c.logger != nil || c.hooks != nil {
		st.ended = time.Now()
	}
	if err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		c.logAttempt(ctx, st, resp, nil)
		return false, nil
	}
	if err == nil {
		body, _ := readBounded(resp, maxErrorBody)
		resp.Body.Close()
		resp.Body = http.NoBody
		apiErr := newAPIError(resp.StatusCode, requestID(resp, st.secrets[:]), body, st.secrets[:])
		apiErr.Attempts, apiErr.Uncertain = st.attempts, st.uncertain
		st.last = apiErr
		err = apiErr
	}
	c.logAttempt(ctx, st, resp, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	var apiErr *APIError
	retry = retryableError(err)
	if errors.As(err, &apiErr) {
		retry = apiErr.Retryable()
	}
	if !retry || st.attempts > c.retry.RetryMax {
		return false, err
	}
	// Waiting is pointless if even the shortest wait ends after the
	// caller's deadline: give up now, keeping what caused the retry.
	if deadline, ok := ctx.Deadline(); ok {
		if lo, _ := backoffRange(c.retry.RetryWaitMin, c.retry.RetryWaitMax, st.attempts-1, resp); time.Until(deadline) < lo {
			return false, retryAfterDeadline(err)
		}
	}
	if c.budget != nil && !c.budget.spend() {
		return false, budgetExhausted(err)
	}
	return true, err
}

// retryAfterDeadline is the error of a call that gives up because its next
// retry could not start before the context's deadline. It matches
// context.DeadlineExceeded and keeps the network error that caused the
// retry; an *APIError cause stays reachable as the call's last answer.
func retryAfterDeadline(cause error) error {
	if _, ok := cause.(*APIError); ok {
		return fmt.Errorf("the next retry would start after the context deadline: %w", context.DeadlineExceeded)
	}
	return fmt.Errorf("%w; the next retry would start after the context deadline: %w", cause, context.DeadlineExceeded)
}

// retryableError reports whether a network error may be transient.
func retryableError(err error) bool {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errForeignHost), certificateError(err):
		return false
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return false
	case strings.Contains(err.Error(), "unsupported protocol scheme"),
		strings.Contains(err.Error(), "invalid header"):
		return false
	}
	return true
}

// certificateError reports whether err is the refusal of the server's
// TLS certificate.
func certificateError(err error) bool {
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
	)
	return errors.As(err, &certErr) || errors.As(err, &unknownAuth) ||
		errors.As(err, &hostErr) || errors.As(err, &invalidErr)
}

// backoff is the go-retryablehttp Backoff policy: a wait drawn uniformly
// from backoffRange, so that clients that failed together do not retry
// together.
func backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	lo, hi := backoffRange(min, max, attempt, resp)
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rand.Int64N(int64(hi-lo)))
}

// backoffRange returns the shortest and longest wait before retry number
// attempt+1: min·2^attempt with ±50% jitter, clamped to [min, max]. A
// Retry-After header (seconds or an HTTP date), if Blueshift ever sends
// one, replaces the computed wait but is clamped the same way, so a huge,
// negative or garbled value can neither hang nor spin.
func backoffRange(min, max time.Duration, attempt int, resp *http.Response) (lo, hi time.Duration) {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			d = clamp(d, min, max)
			return d, d
		}
	}
	exp := float64(min) * math.Pow(2, float64(attempt))
	return clampFloat(exp*0.5, min, max), clampFloat(exp*1.5, min, max)
}

func clampFloat(d float64, min, max time.Duration) time.Duration {
	if d >= float64(max) || math.IsNaN(d) {
		return max
	}
	return clamp(time.Duration(d), min, max)
}

func clamp(d, min, max time.Duration) time.Duration {
	if d < min {
		return min
	}
	if d > max {
		return max
	}
	return d
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(math.MaxInt64/time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

// retryBudget is a client-wide token bucket that limits retries across all
// calls (aws-sdk-go-v2's retry quota). A retry costs one token. A call that
// succeeds gives back what its own retries cost, since those retries
// worked; a call that succeeds at once earns a tenth of a token. Both stop
// at the capacity. So retries that succeed never drain the budget, but
// when Blueshift is down for everyone, retries stop once it is spent
// instead of multiplying the load, and resume as calls succeed again.
type retryBudget struct {
	mu     sync.Mutex
	tenths int // tokens available, in tenths of a retry
	cap    int
}

// maxRetryBudget bounds WithRetryBudget, so that no arithmetic overflows.
const maxRetryBudget = 1_000_000

func newRetryBudget(retries int) *retryBudget {
	return &retryBudget{tenths: retries * 10, cap: retries * 10}
}

// spend takes one retry's worth of tokens, reporting false if there is not enough.
func (b *retryBudget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tenths < 10 {
		return false
	}
	b.tenths -= 10
	return true
}

// succeeded credits a call that succeeded after the given number of retries.
func (b *retryBudget) succeeded(retries int) {
	credit := 1
	if retries > 0 {
		credit = min(retries, maxRetryBudget) * 10
	}
	b.mu.Lock()
	b.tenths = min(b.tenths+credit, b.cap)
	b.mu.Unlock()
}
