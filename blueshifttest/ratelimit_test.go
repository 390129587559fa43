package blueshifttest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

func TestRateBucketCountsAllowedRequests(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		perSecond float64
		burst     int
		requests  int           // sent one every gap, from t0
		gap       time.Duration //
		wantOK    int
	}{
		{"a burst empties the full bucket", 10, 5, 20, 0, 5},
		{"default burst is a tenth of a second", 200, 0, 100, 0, 20},
		{"default burst is at least 1", 5, 0, 10, 0, 1},
		{"default burst of a fractional rate", 0.5, -1, 10, 0, 1},
		// 50 requests over 0.49 s at 40/s: 4 saved + 19 refilled.
		{"refill at the rate", 40, 4, 50, 10 * time.Millisecond, 4 + 19},
		{"under the limit nothing is refused", 100, 1, 50, 10 * time.Millisecond, 50},
		{"refill stops at the burst", 1, 3, 3, time.Hour, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newRateBucket(tc.perSecond, tc.burst, t0)
			require.NotNil(t, b)
			ok := 0
			for i := range tc.requests {
				if b.allow(t0.Add(time.Duration(i) * tc.gap)) {
					ok++
				}
			}
			assert.Equal(t, tc.wantOK, ok)
		})
	}
	for _, off := range []float64{0, -1} {
		assert.Nil(t, newRateBucket(off, 10, t0), "perSecond %v is no limit", off)
	}
}

// send posts n start-tracking requests one after another and returns how
// many got each status, and the bodies of the 429s.
func send(t *testing.T, srv *Server, n int) (map[int]int, []string) {
	t.Helper()
	statuses := map[int]int{}
	var bodies []string
	for i := range n {
		req, err := http.NewRequest(http.MethodPost, srv.URL+StartTrackingPath, strings.NewReader(`{"customer_id":"C`+string(rune('a'+i%26))+`"}`))
		require.NoError(t, err)
		req.SetBasicAuth(srv.APIKey, "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			bodies = append(bodies, string(body))
		}
	}
	return statuses, bodies
}

func TestRateLimitAnswers429AndCountsThem(t *testing.T) {
	// 0.001/s: no token comes back during the test, so the counts are exact.
	srv := NewServer(WithRateLimit(0.001, 5))
	defer srv.Close()
	statuses, bodies := send(t, srv, 20)
	assert.Equal(t, map[int]int{200: 5, 429: 15}, statuses)
	assert.Equal(t, 15, srv.RateLimited())
	for _, b := range bodies {
		assert.Equal(t, `{"message":"Rate limit exceeded"}`, b)
	}
	srv.Reset()
	assert.Zero(t, srv.RateLimited())

	// The client sees Blueshift's 429.
	client, err := blueshift.NewClient(srv.APIKey, blueshift.WithBaseURL(srv.URL), blueshift.WithRetryMax(0))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	assert.ErrorIs(t, err, blueshift.ErrRateLimited)
	assert.Equal(t, 1, srv.RateLimited())
}

func TestSetRateLimitChangesTheLimitWhileRunning(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	for _, step := range []struct {
		perSecond float64
		burst     int
		want      map[int]int
	}{
		{0, 0, map[int]int{200: 10}},            // no limit
		{0.001, 3, map[int]int{200: 3, 429: 7}}, // a new, full bucket
		{0.001, 8, map[int]int{429: 10}},        // keeps what was left (none), up to the new burst
		{0, 0, map[int]int{200: 10}},            // off again
		{0.001, 0, map[int]int{200: 1, 429: 9}}, // default burst: at least 1
		{-5, 10, map[int]int{200: 10}},          // negative: off
		{0.001, 2, map[int]int{200: 2, 429: 8}}, //
		{0.001, 1, map[int]int{429: 10}},        //
	} {
		srv.SetRateLimit(step.perSecond, step.burst)
		statuses, _ := send(t, srv, 10)
		assert.Equal(t, step.want, statuses, "limit %v, burst %d", step.perSecond, step.burst)
	}
	assert.Equal(t, 7+10+9+8+10, srv.RateLimited())
}

func TestRateLimitHoldsOverARealInterval(t *testing.T) {
	// 200/s with a burst of 20, hammered by 4 goroutines for 300 ms: about
	// 20 + 0.3 × 200 = 80 succeed. The upper bound is the bucket's promise.
	// The lower one only proves that tokens come back after the burst: on a
	// loaded machine the goroutines can be starved for most of the interval,
	// and tokens refilled while nobody asks are lost at the burst.
	srv := NewServer(WithRateLimit(200, 20), WithRecordLimit(0))
	defer srv.Close()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 300*time.Millisecond {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+StartTrackingPath, strings.NewReader(`{"email":"a@example.com"}`))
				req.SetBasicAuth(srv.APIKey, "")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	assert.Greater(t, statuses[200], 20)
	assert.LessOrEqual(t, float64(statuses[200]), 20+elapsed*200+1)
	assert.Equal(t, statuses[429], srv.RateLimited())
	t.Logf("%d ok, %d 429 in %.3f s", statuses[200], statuses[429], elapsed)
}
