package blueshift_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestRetryBudgetSurvivesALossyPath is the other side of
// TestRetryBudgetStopsRetryStorms: behind a path that cuts 1 in 5 first
// attempts (each retry succeeds), the default budget must not turn those
// cuts into failures, because a retry that works gives its cost back.
func TestRetryBudgetSurvivesALossyPath(t *testing.T) {
	const calls, workers = 10_000, 32
	var mu sync.Mutex
	seen := map[string]bool{}
	var dropped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c blueshift.Customer
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &c)
		mu.Lock()
		first := !seen[c.CustomerID]
		seen[c.CustomerID] = true
		mu.Unlock()
		var n int
		_, _ = fmt.Sscanf(c.CustomerID, "C%d", &n)
		if first && n%5 == 0 {
			dropped.Add(1)
			dropConnection(w, r)
			return
		}
		okHandler(w, r)
	}))
	defer srv.Close()
	// Default options but for short waits, so the test is quick: the
	// budget is the default 100.
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL), blueshift.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	defer client.CloseIdleConnections()

	var failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: fmt.Sprintf("C%d", i)}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	assert.Equal(t, int64(calls/5), dropped.Load())
	assert.Zero(t, failed.Load(), "calls failed though every retry would have succeeded")
}

// TestNumericOptionsAtTheirExtremes checks that no option value overflows
// into a client that misbehaves: each extreme is refused with an error or
// gives a client that still retries a 503 and succeeds.
func TestNumericOptionsAtTheirExtremes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opt    blueshift.Option
		refuse bool
	}{
		{"retry budget max int", blueshift.WithRetryBudget(math.MaxInt), true},
		{"retry budget 1,000,001", blueshift.WithRetryBudget(1_000_001), true},
		{"retry budget 1,000,000", blueshift.WithRetryBudget(1_000_000), false},
		{"retry budget negative", blueshift.WithRetryBudget(math.MinInt), true},
		{"retry max max int", blueshift.WithRetryMax(math.MaxInt), true},
		{"retry max min int", blueshift.WithRetryMax(math.MinInt), true},
		{"retry wait up to max duration", blueshift.WithRetryWait(time.Millisecond, math.MaxInt64), false},
		{"retry wait min of max duration", blueshift.WithRetryWait(math.MaxInt64, math.MaxInt64), false},
		{"retry wait min int", blueshift.WithRetryWait(math.MinInt64, 0), true},
		{"timeout max duration", blueshift.WithTimeout(math.MaxInt64), false},
		{"timeout min int", blueshift.WithTimeout(math.MinInt64), true},
		{"rate max float", blueshift.WithRateLimit(math.MaxFloat64, math.MaxInt), false},
		{"rate smallest float", blueshift.WithRateLimit(math.SmallestNonzeroFloat64, 1), false},
		{"rate NaN", blueshift.WithRateLimit(math.NaN(), 1), true},
		{"rate infinite", blueshift.WithRateLimit(math.Inf(1), 1), true},
		{"burst min int", blueshift.WithRateLimit(10, math.MinInt), true},
		{"max conns max int", blueshift.WithMaxConnsPerHost(math.MaxInt), false},
		{"max conns min int", blueshift.WithMaxConnsPerHost(math.MinInt), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rec := setup(t, sequence(respond(503, ``), okHandler))
			client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(rec.URL), tc.opt)
			if tc.refuse {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tc.name == "retry wait min of max duration" || tc.name == "rate smallest float" {
				return // a call would wait for ages: constructing without overflow is the point
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := client.StartTracking(ctx, ann)
			require.NoError(t, err, "the 503 is retried")
			assert.Equal(t, 2, resp.Attempts)
		})
	}
}
