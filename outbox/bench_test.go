package outbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// The benchmarks behind the README's table (issue item 5). The Postgres
// ones need BLUESHIFT_TEST_POSTGRES_DSN. The README's figures come from
//
//	go test -run '^$' -bench 'Record|DeliveryRate' -benchtime 2000x -count 3 ./outbox/
//	go test -run '^$' -bench 'Million/.*/(claim|run)' -benchtime 20000x ./outbox/
//	go test -run '^$' -bench 'Million/.*/stats' -benchtime 20x ./outbox/
//
// BenchmarkMillion first fills each store with 1,000,000 pending
// customers (5 to 10 s each).

// benchStores are the stores a benchmark runs on.
func benchStores(b *testing.B) []storeCase {
	return stores(b)
}

// BenchmarkRecord measures StartTracking and StopTracking: one op is one
// change, by 1 or 32 goroutines at once over 100,000 customers. It reports
// the latency percentiles and the throughput.
func BenchmarkRecord(b *testing.B) {
	for _, sc := range benchStores(b) {
		for _, goroutines := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", sc.name, goroutines), func(b *testing.B) {
				fake := newFake(b)
				ob := openOutbox(b, newClient(b, fake), sc.open(b))
				lat := make([][]time.Duration, goroutines)
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for g := range goroutines {
					n := b.N / goroutines
					if g < b.N%goroutines {
						n++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						lat[g] = recordMany(b, ob, n)
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
				b.ReportMetric(float64(percentile(all, 0.50).Microseconds()), "p50-µs")
				b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-µs")
			})
		}
	}
}

// recordMany records n random changes and returns their latencies.
func recordMany(b *testing.B, ob *Outbox, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for range n {
		c := blueshift.Customer{Email: fmt.Sprintf("bench-%d@example.com", rand.IntN(100_000))}
		start := time.Now()
		if err := record(context.Background(), ob, c, rand.IntN(2) == 0); err != nil {
			b.Error(err)
			return out
		}
		out = append(out, time.Since(start))
	}
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(float64(len(sorted))*p), len(sorted)-1)]
}

// BenchmarkDeliveryRate measures how close Run comes to the client's rate
// limit (50 calls/s, Blueshift's recommendation, burst 1): one op is one
// delivery. It reports deliveries/s and that as a percentage of the limit.
func BenchmarkDeliveryRate(b *testing.B) {
	const limit = 50.0
	for _, sc := range benchStores(b) {
		b.Run(sc.name, func(b *testing.B) {
			fake := blueshifttest.NewServer(blueshifttest.WithRecordLimit(0))
			defer fake.Close()
			ob := openOutbox(b, newClient(b, fake, blueshift.WithRateLimit(limit, 1)), sc.open(b))
			for i := range b.N {
				require.NoError(b, ob.StartTracking(context.Background(), blueshift.Customer{Email: fmt.Sprintf("rate-%d@example.com", i)}))
			}
			b.ResetTimer()
			start := time.Now()
			stop := startRun(b, ob)
			for ob.delivered.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			stop()
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "deliveries/s")
			b.ReportMetric(100*rate/limit, "%-of-limit")
		})
	}
}

// BenchmarkMillion fills each store with 1,000,000 pending customers,
// then measures the claim query ("claim": one op claims, that is leases, 4
// customers, as Run does with its default concurrency; the plan is
// logged) and Run's memory while it delivers with no rate limit ("run":
// one op is one delivery; it reports the peak Go heap in use, the peak
// memory the Go runtime obtained from the OS and the peak resident set of
// the whole benchmark process, fake Blueshift included, sampled every
// 10 ms) and Stats ("stats", which reads trigger-kept counts).
func BenchmarkMillion(b *testing.B) {
	for _, sc := range benchStores(b) {
		b.Run(sc.name, func(b *testing.B) {
			fake := blueshifttest.NewServer(blueshifttest.WithRecordLimit(0))
			defer fake.Close()
			ob := openOutbox(b, newClient(b, fake), sc.open(b), WithConcurrency(4))
			start := time.Now()
			require.NoError(b, fillMillion(context.Background(), ob))
			b.Logf("%s: 1,000,000 pending customers inserted in %v", sc.name, time.Since(start).Round(time.Second))
			b.Logf("%s claim plan:\n%s", sc.name, explainClaim(b, ob))
			b.Run("claim", func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for range b.N {
					start := time.Now()
					entries, err := ob.claim(context.Background(), 4)
					lat = append(lat, time.Since(start))
					require.NoError(b, err)
					require.Len(b, entries, 4)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "p50-µs")
				b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
			})
			b.Run("run", func(b *testing.B) { benchmarkRunMemory(b, ob) })
			b.Run("stats", func(b *testing.B) {
				for range b.N {
					st, err := ob.Stats(context.Background())
					require.NoError(b, err)
					require.Greater(b, st.Pending, 900_000)
				}
			})
		})
	}
}

// benchmarkRunMemory runs ob until it delivered b.N more customers.
func benchmarkRunMemory(b *testing.B, ob *Outbox) {
	runtime.GC()
	var peak peakMemory
	done := make(chan struct{})
	go peak.sample(done)
	from := ob.delivered.Load()
	b.ResetTimer()
	stop := startRun(b, ob)
	for ob.delivered.Load()-from < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	stop()
	close(done)
	b.ReportMetric(float64(peak.heap.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak.sys.Load())/(1<<20), "peak-sys-MiB")
	b.ReportMetric(float64(peak.rss.Load())/(1<<20), "peak-rss-MiB")
}

// fillMillion inserts 1,000,000 pending rows in one statement.
func fillMillion(ctx context.Context, ob *Outbox) error {
	series := `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000000) SELECT i FROM s`
	if ob.d.dollar {
		series = `SELECT i FROM generate_series(1, 1000000) AS s(i)`
	}
	q := ob.d.sql(`INSERT INTO blueshift_outbox (customer_key, email, customer_id, cookie, device_id, state, version,
		delivered_version, status, first_pending_at, next_attempt_at, attempts, lease_owner, changed_during_lease_at, last_error)
		SELECT 'k' || i, 'million-' || i || '@example.com', '', '', '', 1, 1, 0, 1, {now} - i, {now} - i, 0, '', 0, ''
		FROM (` + series + `) AS t`)
	if _, err := ob.db.ExecContext(ctx, q); err != nil {
		return err
	}
	_, err := ob.db.ExecContext(ctx, `ANALYZE`)
	return err
}

// explainClaim returns the claim query's plan.
func explainClaim(b *testing.B, ob *Outbox) string {
	q, args := "EXPLAIN QUERY PLAN "+ob.d.q.claim, []any{"explain", 1, 4}
	if ob.d.dollar {
		q = "EXPLAIN " + ob.d.q.claim
	}
	rows, err := ob.db.Query(q, args...)
	require.NoError(b, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(b, err)
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(b, rows.Scan(ptrs...))
		lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
	}
	return strings.Join(lines, "\n")
}
