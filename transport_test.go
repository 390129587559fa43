package blueshift_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// These tests count TCP connections (with the server's ConnState hook) and
// allocations: counts, not timings, so they are stable on a noisy machine.

// countingServer returns a keep-alive server answering with handler, and a
// counter of the connections opened to it.
func countingServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &opened
}

// hammer makes calls StartTracking calls from workers goroutines and
// returns how many failed.
func hammer(client *blueshift.Client, calls, workers int) int64 {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(calls) {
				if _, err := client.StartTracking(context.Background(), benchCustomer); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return failed.Load()
}

// TestConnectionsAreReused measures churn: the connections opened in the
// steady state, after a first burst has filled the pool. A pool that
// churns (say, one closed on every failed call) opens one per call or so.
// The bound is not 0 because net/http itself drops a connection whose
// request write it has not seen complete within 50 ms of the answer
// (maxWriteWaitBeforeConnReuse), which a starved 2-core machine triggers
// a few times in 20,000 calls, for raw net/http as much as for the SDK.
func TestConnectionsAreReused(t *testing.T) {
	calls := 20000
	if testing.Short() {
		calls = 4000
	}
	for _, tc := range []struct {
		name    string
		calls   int
		workers int
	}{
		{"serial", 2000, 1},
		{"64 concurrent callers", calls, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, opened := countingServer(t, okHandler)
			client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL))
			require.NoError(t, err)
			assert.Zero(t, hammer(client, 10*tc.workers, tc.workers), "first burst")
			warm := opened.Load()
			assert.LessOrEqual(t, warm, int64(max(tc.workers, 128)), "the first burst fills the pool, no more")
			assert.Zero(t, hammer(client, tc.calls, tc.workers))
			steady := opened.Load() - warm
			assert.LessOrEqual(t, steady, int64(tc.calls/500), "connections opened in the steady state for %d calls", tc.calls)
			t.Logf("%d callers: %d connections for the first burst, %d more for %d calls", tc.workers, warm, steady, tc.calls)
		})
	}
}

func TestFailedCallsDoNotCloseOtherCallsConnections(t *testing.T) {
	// go-retryablehttp calls CloseIdleConnections every time a call gives
	// up; if that reached the pool, every 503 would force new connections.
	var n atomic.Int64
	srv, opened := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			respond(503, `{"message":"Service Unavailable"}`)(w, r)
			return
		}
		okHandler(w, r)
	})
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL), blueshift.WithRetryMax(0))
	require.NoError(t, err)
	failed := hammer(client, 2000, 8)
	assert.Equal(t, int64(1000), failed, "half the calls got a 503")
	assert.LessOrEqual(t, opened.Load(), int64(16))
}

func TestAllocationsPerCallStayCloseToRawNetHTTP(t *testing.T) {
	for _, target := range benchTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			raw, sdk := startTrackers(t, target.url, target.rt)
			ctx := context.Background()
			rawAllocs := testing.AllocsPerRun(500, func() { require.NoError(t, raw(ctx)) })
			sdkAllocs := testing.AllocsPerRun(500, func() { require.NoError(t, sdk(ctx)) })
			t.Logf("allocs per call: raw %.1f, sdk %.1f", rawAllocs, sdkAllocs)
			assert.LessOrEqual(t, sdkAllocs, rawAllocs+12)
		})
	}
}
