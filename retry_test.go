package blueshift

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffGrowsWithJitterWithinBounds(t *testing.T) {
	const min, max = time.Second, 30 * time.Second
	for attempt := 0; attempt < 8; attempt++ {
		want := float64(min) * math.Pow(2, float64(attempt))
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for range 1000 {
			d := backoff(min, max, attempt, nil)
			assert.GreaterOrEqual(t, d, min)
			assert.LessOrEqual(t, d, max)
			lo, hi = minDur(lo, d), maxDur(hi, d)
		}
		if want*1.2 < float64(max) && want*0.8 > float64(min) {
			// Jitter: the same attempt spreads at least ±20% around its nominal wait.
			assert.Less(t, float64(lo), want*0.8, "attempt %d lowest wait", attempt)
			assert.Greater(t, float64(hi), want*1.2, "attempt %d highest wait", attempt)
		}
	}
	assert.Equal(t, max, backoff(min, max, 62, nil), "no overflow on huge attempt numbers")
	assert.Equal(t, max, backoff(min, max, 10000, nil))
}

func TestBackoffClampsRetryAfter(t *testing.T) {
	const min, max = time.Second, 30 * time.Second
	now := time.Now()
	for _, tc := range []struct {
		header string
		lo, hi time.Duration
	}{
		{"5", 5 * time.Second, 5 * time.Second},
		{"3600", max, max},
		{"9999999999", max, max},
		{"99999999999999999999", min, max}, // unparseable as int64: computed backoff
		{"-5", min, min},
		{"0", min, min},
		{"garbage", min, max},
		{now.Add(10 * time.Second).UTC().Format(http.TimeFormat), 8 * time.Second, 11 * time.Second},
		{now.Add(-time.Hour).UTC().Format(http.TimeFormat), min, min},
		{now.Add(1000 * time.Hour).UTC().Format(http.TimeFormat), max, max},
	} {
		resp := &http.Response{Header: http.Header{"Retry-After": {tc.header}}}
		d := backoff(min, max, 0, resp)
		assert.GreaterOrEqual(t, d, tc.lo, tc.header)
		assert.LessOrEqual(t, d, tc.hi, tc.header)
	}
}

func TestRetryBudgetSpendsAndRefunds(t *testing.T) {
	b := newRetryBudget(2)
	assert.True(t, b.spend())
	assert.True(t, b.spend())
	assert.False(t, b.spend(), "empty after 2 retries")
	for range 9 {
		b.succeeded(0)
	}
	assert.False(t, b.spend(), "9 first-attempt successes earn less than one retry")
	b.succeeded(0)
	assert.True(t, b.spend(), "10 first-attempt successes earn one retry")
	b.succeeded(1)
	assert.True(t, b.spend(), "a call whose retry succeeded gives that retry back")
	for range 1000 {
		b.succeeded(0)
	}
	b.succeeded(1_000_000)
	assert.True(t, b.spend())
	assert.True(t, b.spend())
	assert.False(t, b.spend(), "credits stop at the capacity")
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
