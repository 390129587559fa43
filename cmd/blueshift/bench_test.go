package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// timedFake serves the fake behind a handler that notes when each request
// arrived.
type timedFake struct {
	*blueshifttest.Server
	srv   *httptest.Server
	mu    sync.Mutex
	times []time.Time
}

func newTimedFake(b *testing.B) *timedFake {
	f := &timedFake{Server: blueshifttest.NewServer(blueshifttest.WithRecordLimit(0))}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.times = append(f.times, time.Now())
		f.mu.Unlock()
		f.ServeHTTP(w, r)
	}))
	b.Cleanup(func() { f.srv.Close(); f.Close() })
	return f
}

// maxInWindow returns the most requests that arrived within any window.
func maxInWindow(times []time.Time, window time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// bulk runs start-tracking over n records against f and returns the
// achieved rate in records per second.
func benchBulk(b *testing.B, f *timedFake, n int, flags ...string) float64 {
	b.Helper()
	input := filepath.Join(b.TempDir(), "c.csv")
	if err := os.WriteFile(input, []byte(customersCSV(n)), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("BLUESHIFT_API_KEY", f.APIKey)
	args := append([]string{"start-tracking", "--file", input, "--base-url", f.srv.URL, "--progress-every", "1h"}, flags...)
	start := time.Now()
	if code := run(context.Background(), args, nil, discard{}, discard{}); code != exitOK {
		b.Fatalf("exit %d", code)
	}
	return float64(n) / time.Since(start).Seconds()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkBulkRate: --rate 200 over 4,000 records must achieve 97–100% of
// 200/s and never exceed 200 (plus the burst of 1) in any 1-second window.
func BenchmarkBulkRate(b *testing.B) {
	const n, rate = 4000, 200
	for range b.N {
		f := newTimedFake(b)
		achieved := benchBulk(b, f, n, "--rate", strconv.Itoa(rate), "--concurrency", "8")
		b.ReportMetric(100*achieved/rate, "%-of-rate")
		b.ReportMetric(float64(maxInWindow(f.times, time.Second)), "max-req-per-1s-window")
	}
}

// BenchmarkBulkLatencyHiding: with every answer delayed 50 ms, 32 calls in
// flight can do at most 32/0.05 s = 640 records/s (Little's law); the run
// must achieve at least 90% of that.
func BenchmarkBulkLatencyHiding(b *testing.B) {
	const n, concurrency, delay = 3200, 32, 50 * time.Millisecond
	bound := float64(concurrency) / delay.Seconds()
	for range b.N {
		f := newTimedFake(b)
		f.SetDelay(delay)
		achieved := benchBulk(b, f, n, "--rate", "1000", "--concurrency", strconv.Itoa(concurrency))
		b.ReportMetric(achieved, "records/s")
		b.ReportMetric(100*achieved/bound, "%-of-littles-law")
	}
}

// BenchmarkBlackHoleStop: against a Blueshift that accepts connections and
// never answers, with --timeout 200ms, backoffs of at most 100ms and 4
// calls in flight, a run must stop within 2 × (200ms + 100ms) = 600ms.
// It reports the time the run took to stop.
func BenchmarkBlackHoleStop(b *testing.B) {
	input := filepath.Join(b.TempDir(), "c.csv")
	if err := os.WriteFile(input, []byte(customersCSV(20)), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("BLUESHIFT_API_KEY", "k")
	url := blackHoleURL(b)
	var total time.Duration
	for range b.N {
		start := time.Now()
		code := run(context.Background(), []string{"start-tracking", "--file", input, "--base-url", url, "--timeout", "200ms",
			"--retry-wait-min", "50ms", "--retry-wait-max", "100ms", "--concurrency", "4", "--rate", "1000", "--progress-every", "1h"}, nil, discard{}, discard{})
		if code != exitFailures {
			b.Fatalf("exit %d", code)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-stop")
	b.ReportMetric(600, "ms-goal")
}
