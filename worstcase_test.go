package blueshift_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// slack is what a loaded 2-core machine may add to a bound that is exact
// in theory (scheduling, the race detector).
const slack = 1500 * time.Millisecond

// callConcurrently makes n concurrent StartTracking calls with ctx and
// returns each one's duration and error.
func callConcurrently(client *blueshift.Client, ctx context.Context, n int) ([]time.Duration, []error) {
	took, errs := make([]time.Duration, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, errs[i] = client.StartTracking(ctx, ann)
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	return took, errs
}

// TestWorstCaseIncludesRateLimitWaits checks the worst case as docs/errors.md
// states it: (RetryMax+1) × timeout + the backoff waits, plus, with a rate
// limit, each attempt's wait for its turn, which grows with the callers
// queued ahead of it; only the context's deadline bounds the whole call.
// The old promise, without the rate-limit waits, said 100 ms here; the
// limiter alone makes the 8th caller wait 7/20 s = 350 ms.
func TestWorstCaseIncludesRateLimitWaits(t *testing.T) {
	const callers, perSecond, timeout = 8, 20.0, 100 * time.Millisecond
	for name, rateOpt := range map[string]blueshift.Option{
		"WithRateLimit":    blueshift.WithRateLimit(perSecond, 1),
		"WithAdaptiveRate": blueshift.WithAdaptiveRate(perSecond, perSecond),
	} {
		t.Run(name, func(t *testing.T) {
			client, _ := setup(t, nil, rateOpt, blueshift.WithRetryMax(0), blueshift.WithTimeout(timeout))
			took, errs := callConcurrently(client, context.Background(), callers)
			slowest := time.Duration(0)
			for i := range took {
				require.NoError(t, errs[i])
				slowest = max(slowest, took[i])
			}
			oldPromise := 1 * timeout // (RetryMax+1) × timeout + RetryMax × max wait
			queue := time.Duration(float64(callers-1) / perSecond * float64(time.Second))
			assert.Greater(t, slowest, oldPromise, "the old promise ignored rate-limit waits")
			assert.GreaterOrEqual(t, slowest, queue-10*time.Millisecond)
			assert.Less(t, slowest, oldPromise+queue+slack, "the stated worst case")
		})
	}
}

// TestContextDeadlineBoundsRateLimitWaits checks the other half: with a
// deadline, every call returns by it, and a call that could not get its
// turn in time sent nothing and says so.
func TestContextDeadlineBoundsRateLimitWaits(t *testing.T) {
	client, rec := setup(t, nil, blueshift.WithRateLimit(2, 1), blueshift.WithRetryMax(0))
	const deadline = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	took, errs := callConcurrently(client, ctx, 8)
	failed := 0
	for i := range took {
		assert.Less(t, took[i], deadline+slack)
		if errs[i] != nil {
			failed++
			assert.ErrorIs(t, errs[i], context.DeadlineExceeded)
			var reqErr *blueshift.RequestError
			require.ErrorAs(t, errs[i], &reqErr)
			assert.Zero(t, reqErr.Attempts)
		}
	}
	assert.Equal(t, 7, failed, "one token, then 500 ms between tokens: only the first call fits in 200 ms")
	assert.Equal(t, 1, rec.Count())
}

// TestRateTurnPastTheDeadline checks what docs/errors.md states for a turn
// of the rate that cannot come before the caller's deadline: with
// WithRateLimit the call fails at once; with WithAdaptiveRate, whose rate
// may grow while the call waits, it waits while a turn by the deadline is
// still possible at the fastest growth, and fails later, still by the
// deadline. Either way it sent nothing (Attempts 0) and matches
// context.DeadlineExceeded.
func TestRateTurnPastTheDeadline(t *testing.T) {
	const deadline = time.Second
	for _, tc := range []struct {
		name     string
		opt      blueshift.Option
		failedBy func(took time.Duration) bool // when a failed call returned
	}{
		{"WithRateLimit fails at once", blueshift.WithRateLimit(2, 1), func(took time.Duration) bool { return took < deadline/2 }},
		{"WithAdaptiveRate waits", blueshift.WithAdaptiveRate(2, 4), func(took time.Duration) bool { return took >= deadline/2 && took < deadline+slack }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, rec := setup(t, nil, tc.opt, blueshift.WithRetryMax(0))
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			took, errs := callConcurrently(client, ctx, 8)
			failed := 0
			for i := range took {
				assert.Less(t, took[i], deadline+slack)
				if errs[i] == nil {
					continue
				}
				failed++
				assert.ErrorIs(t, errs[i], context.DeadlineExceeded)
				var reqErr *blueshift.RequestError
				require.ErrorAs(t, errs[i], &reqErr)
				assert.Zero(t, reqErr.Attempts)
				assert.True(t, tc.failedBy(took[i]), "a failed call returned after %v", took[i])
			}
			assert.Positive(t, failed)
			assert.Equal(t, 8-failed, rec.Count())
		})
	}
}

// ignoresContext is a RoundTripper that takes its time whatever its
// request's context says, as a proxy library might.
type ignoresContext struct{ delay time.Duration }

func (rt ignoresContext) RoundTrip(*http.Request) (*http.Response, error) {
	time.Sleep(rt.delay)
	return nil, errors.New("gave up")
}

// TestRoundTripperThatIgnoresTheContext checks the condition docs/errors.md
// states for WithHTTPClient: the deadline and the attempt timeout reach a
// RoundTripper only through its request's context, so one that ignores it
// keeps the call until it returns, past the deadline, as http.Client's own
// Timeout would; the error still matches context.DeadlineExceeded.
func TestRoundTripperThatIgnoresTheContext(t *testing.T) {
	const delay, deadline = 600 * time.Millisecond, 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		timeout time.Duration // WithTimeout
	}{
		{"attempt timeout shorter than the deadline", 50 * time.Millisecond},
		{"attempt timeout longer than the deadline", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := setup(t, nil, blueshift.WithRetryMax(0),
				blueshift.WithHTTPClient(&http.Client{Transport: ignoresContext{delay}}), blueshift.WithTimeout(tc.timeout))
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			_, err := client.StartTracking(ctx, ann)
			assert.GreaterOrEqual(t, time.Since(start), delay, "the call outlasts its deadline")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}
