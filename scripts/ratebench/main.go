// Command ratebench measures the adaptive rate (blueshift.WithAdaptiveRate)
// against fixed rates (blueshift.WithRateLimit), side by side, against the
// fake Blueshift throttling at a known limit L, and prints one table.
//
//	go run ./scripts/ratebench                 # every run below, in parallel (about 70 s)
//	go run ./scripts/ratebench -serial         # one run at a time (slower, less noise between runs)
//	go run ./scripts/ratebench -classic=false  # only the shared-limit and hard-case runs
//	go run ./scripts/ratebench -fleet-for 20s  # shorter shared-limit runs
//
// Each run loads records the way `blueshift start-tracking` does: one
// shared Client used by -concurrency workers, each calling StartTracking per
// record, with the CLI's client settings (retries 4, waits 1 s..30 s, no
// retry budget, a pool of -concurrency connections). Policies: auto
// (WithAdaptiveRate(10, 1000), what --rate auto will be), fixed at L/2 and
// fixed at 2L (WithRateLimit(rate, 1), the CLI's default burst). The fake
// (blueshifttest.WithRateLimit(L, 0): a token bucket with a tenth of a
// second's burst, starting full) serves 30 × L records per run. Every
// request is timed where the fake receives it, and sorted into 1-s windows
// from the start of the run:
//
//   - warm-up: the end of the first window with at least 0.9 × L successes;
//   - achieved: successes per second from the end of warm-up (or the start,
//     if there was none) until 99% of records were done, over L;
//   - 429 share: requests answered 429 over all requests of the run;
//   - drop / rise (limit 200, then 50 from 20 s, then 200 again from 40 s):
//     seconds from the change to the end of the first window whose requests
//     are at most 1.1 × 50, and whose successes are at least 0.9 × 200.
//
// A second table (fleet.go) runs auto clients for a fixed time (-fleet-for,
// 40 s) against one fake each: 2 and 4 clients in this process and 2
// client processes (this program again, with -child-url) sharing L = 50; a
// 4th client joining a quarter of the way in at L = 100; L = 5; one client
// at L = 18 (no goal: below 20/s the fake's burst is 1); answers
// 200 ms and 1 s late (blueshifttest's SetDelay; the limit counts
// arrivals); and 0.5% of requests answered 429 at random at L = 200. It
// prints each goal of issue 20 and whether the run met it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// step is a limit the fake applies from a moment of the run on.
type step struct {
	at    time.Duration
	limit float64
}

// scenario is one run: a policy against a fake with a limit schedule.
type scenario struct {
	name     string // the limit, as shown in the table
	policy   string
	rate     float64 // fixed rate; 0 for auto
	schedule []step  // schedule[0].at is 0
	records  int
	cap      time.Duration // the run is stopped here if not done
}

// event is one request as the fake received it.
type event struct {
	at     time.Duration
	status int
}

// result is what one run measured.
type result struct {
	scenario
	events  []event
	done    []time.Duration // when each record's call ended, in order
	failed  int             // records whose call failed (not those the cap stopped)
	elapsed time.Duration
	final   float64   // the client's Rate() at the end
	rates   []float64 // the client's Rate() at the end of each second
}

func main() {
	concurrency := flag.Int("concurrency", 16, "workers sharing one client, like the CLI's --concurrency")
	limits := flag.String("limits", "20,50,200", "the fake's limits L, requests per second")
	scale := flag.Int("seconds", 30, "records per run, as seconds at L (records = seconds × L)")
	maxRun := flag.Duration("cap", 180*time.Second, "stop a run that has not finished by then")
	serial := flag.Bool("serial", false, "run one scenario at a time")
	dropRise := flag.Bool("drop-rise", true, "also run the 200 → 50 → 200 scenario")
	trace := flag.Bool("trace", false, "also print each run's 1-s windows to stderr")
	only := flag.String("policies", "auto,half,double", "which policies to run: auto, half (fixed L/2), double (fixed 2L)")
	classic := flag.Bool("classic", true, "run the one-client table (-limits, -drop-rise)")
	fleet := flag.Bool("fleet", true, "also run the shared-limit and hard-case scenarios")
	fleetFor := flag.Duration("fleet-for", 40*time.Second, "how long each shared-limit or hard-case run lasts (the late joiner starts at a quarter of it)")
	childURL := flag.String("child-url", "", "internal: run one client of a fleet against this URL and print its final rate")
	childKey := flag.String("child-key", "", "internal: the child's API key")
	childIndex := flag.Int("child-index", 0, "internal: the child's client number")
	childFor := flag.Duration("child-for", 0, "internal: how long the child loads")
	flag.Parse()
	if *childURL != "" {
		fmt.Println(load(*childURL, *childKey, *childIndex, *concurrency, *childFor))
		return
	}

	var scenarios []scenario
	for _, f := range strings.Split(*limits, ",") {
		if !*classic {
			break
		}
		var l float64
		if _, err := fmt.Sscan(f, &l); err != nil || !(l > 0) {
			fmt.Fprintf(os.Stderr, "ratebench: bad limit %q\n", f)
			os.Exit(2)
		}
		scenarios = append(scenarios, policies(fmt.Sprintf("L=%g", l), []step{{0, l}}, *scale*int(l), *maxRun, *only)...)
	}
	if *dropRise && *classic {
		sched := []step{{0, 200}, {20 * time.Second, 50}, {40 * time.Second, 200}}
		scenarios = append(scenarios, policies("200→50→200", sched, 200*20+50*20+200*20, 70*time.Second, *only)...)
	}
	var fleets []fleetScenario
	if *fleet {
		fleets = fleetScenarios(*fleetFor)
	}
	loadBefore := loadAverage()
	var results []result
	var fleetResults []fleetResult
	if *serial {
		results, fleetResults = runAll(scenarios, *concurrency, true), runFleets(fleets, true)
	} else {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); results = runAll(scenarios, *concurrency, false) }()
		go func() { defer wg.Done(); fleetResults = runFleets(fleets, false) }()
		wg.Wait()
	}
	if len(results) > 0 {
		printTable(results, *concurrency)
	}
	if len(fleetResults) > 0 {
		printFleetTable(fleetResults)
	}
	fmt.Printf("\nload average (1 min) at the start: %s, at the end: %s, on %d CPUs\n", loadBefore, loadAverage(), runtime.NumCPU())
	if *trace {
		for _, r := range results {
			printTrace(os.Stderr, r)
		}
		for _, r := range fleetResults {
			printFleetTrace(os.Stderr, r)
		}
	}
}

// loadAverage returns the machine's 1-minute load average, or "?" where
// /proc/loadavg does not exist: the runs share the machine, so its load
// belongs with the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// policies returns the runs of one limit schedule for the policies named
// in only.
func policies(name string, sched []step, records int, cap time.Duration, only string) []scenario {
	l := sched[0].limit
	var out []scenario
	for _, p := range []struct {
		key, name string
		rate      float64
	}{
		{"auto", "auto", 0},
		{"half", fmt.Sprintf("fixed L/2 = %g", l/2), l / 2},
		{"double", fmt.Sprintf("fixed 2L = %g", 2*l), 2 * l},
	} {
		if strings.Contains(","+only+",", ","+p.key+",") {
			out = append(out, scenario{name, p.name, p.rate, sched, records, cap})
		}
	}
	return out
}

func runAll(scenarios []scenario, concurrency int, serial bool) []result {
	results := make([]result, len(scenarios))
	inParallel(len(scenarios), serial, func(i int) {
		sc := scenarios[i]
		results[i] = runOne(sc, concurrency)
		fmt.Fprintf(os.Stderr, "done: %-12s %-18s in %v\n", sc.name, sc.policy, results[i].elapsed.Round(time.Second))
	})
	return results
}

// inParallel calls f(i) for every i in [0, n), each in a goroutine of
// its own (one after the other if serial), and returns when all are done.
func inParallel(n int, serial bool, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		if serial {
			f(i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}

// recorder times every request the fake receives, and its status.
type recorder struct {
	next  http.Handler
	start time.Time
	mu    sync.Mutex
	log   []event
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Since(r.start)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.next.ServeHTTP(sw, req)
	r.mu.Lock()
	r.log = append(r.log, event{at, sw.status})
	r.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newClient builds the client as the CLI does, with the policy's rate.
func newClient(url, key string, sc scenario, concurrency int) *blueshift.Client {
	rate := blueshift.WithAdaptiveRate(10, 1000)
	if sc.rate > 0 {
		rate = blueshift.WithRateLimit(sc.rate, 1)
	}
	client, err := blueshift.NewClient(key, blueshift.WithBaseURL(url), rate,
		blueshift.WithUserAgent("blueshift-cli"), blueshift.WithRetryBudget(0),
		blueshift.WithMaxConnsPerHost(concurrency), blueshift.WithRetryMax(4),
		blueshift.WithRetryWait(time.Second, 30*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratebench:", err)
		os.Exit(1)
	}
	return client
}

// runOne loads sc.records records through a fresh fake and client.
func runOne(sc scenario, concurrency int) result {
	fake := blueshifttest.NewServer(blueshifttest.WithRateLimit(sc.schedule[0].limit, 0), blueshifttest.WithRecordLimit(0))
	defer fake.Close()
	rec := &recorder{next: fake}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	client := newClient(srv.URL, fake.APIKey, sc, concurrency)
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), sc.cap)
	defer cancel()
	rec.start = time.Now()
	go applySchedule(ctx, fake, sc.schedule, rec.start)
	rates := sampleRate(ctx, client)
	res := result{scenario: sc}
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				_, err := client.StartTracking(ctx, blueshift.Customer{CustomerID: fmt.Sprintf("C%d", i)})
				mu.Lock()
				switch {
				case err != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)):
					// stopped by the cap (or about to be): not done
				case err != nil:
					res.failed++
					res.done = append(res.done, time.Since(rec.start))
				default:
					res.done = append(res.done, time.Since(rec.start))
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < sc.records && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(rec.start)
	res.final = client.Rate()
	cancel()
	res.rates = <-rates
	rec.mu.Lock()
	res.events = rec.log
	rec.mu.Unlock()
	return res
}

// sampleRate records client.Rate() every second until ctx ends, and then
// sends what it recorded.
func sampleRate(ctx context.Context, client *blueshift.Client) <-chan []float64 {
	out := make(chan []float64, 1)
	go func() {
		var rates []float64
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- rates
				return
			case <-tick.C:
				rates = append(rates, client.Rate())
			}
		}
	}()
	return out
}

// printTrace prints each second of a run: the limit, what the fake
// received and answered, and the client's allowed rate.
func printTrace(w io.Writer, r result) {
	sent, ok := windows(r.events)
	fmt.Fprintf(w, "# %s, %s: second, limit, requests, successes, 429s, allowed rate\n", r.name, r.policy)
	for k := range sent {
		rate := math.NaN()
		if k < len(r.rates) {
			rate = r.rates[k]
		}
		limited := 0
		for _, e := range r.events {
			if int(e.at/time.Second) == k && e.status == http.StatusTooManyRequests {
				limited++
			}
		}
		fmt.Fprintf(w, "%d\t%g\t%d\t%d\t%d\t%.1f\n", k+1, limitAt(r.schedule, time.Duration(k)*time.Second), sent[k], ok[k], limited, rate)
	}
}

// applySchedule changes the fake's limit at the schedule's moments.
func applySchedule(ctx context.Context, fake *blueshifttest.Server, sched []step, start time.Time) {
	for _, s := range sched[1:] {
		t := time.NewTimer(time.Until(start.Add(s.at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			fake.SetRateLimit(s.limit, 0)
		}
	}
}

// windows counts requests and successes in 1-s windows.
func windows(events []event) (sent, ok []int) {
	for _, e := range events {
		k := int(e.at / time.Second)
		for len(sent) <= k {
			sent, ok = append(sent, 0), append(ok, 0)
		}
		sent[k]++
		if e.status >= 200 && e.status < 300 {
			ok[k]++
		}
	}
	return sent, ok
}

// limitAt is the fake's limit at d.
func limitAt(sched []step, d time.Duration) float64 {
	l := sched[0].limit
	for _, s := range sched {
		if d >= s.at {
			l = s.limit
		}
	}
	return l
}

// limitIntegral is the requests the limit allowed in [from, to).
func limitIntegral(sched []step, from, to time.Duration) float64 {
	total := 0.0
	for d := from; d < to; d += 10 * time.Millisecond {
		total += limitAt(sched, d) * math.Min(0.01, (to-d).Seconds())
	}
	return total
}

// metrics are the figures of one run.
type metrics struct {
	warmup   int     // seconds; -1: never
	achieved float64 // fraction of the limit
	share    float64 // 429s over requests
	drop     int     // seconds; -1: never; 0: no drop in the run
	rise     int
	t99      time.Duration
	done     int
}

func measure(r result) metrics {
	sent, ok := windows(r.events)
	m := metrics{warmup: -1, done: len(r.done)}
	for k := range ok {
		if float64(ok[k]) >= 0.9*limitAt(r.schedule, time.Duration(k)*time.Second) {
			m.warmup = k + 1
			break
		}
	}
	done := append([]time.Duration(nil), r.done...)
	sort.Slice(done, func(i, j int) bool { return done[i] < done[j] })
	m.t99 = r.elapsed
	if need := int(math.Ceil(0.99 * float64(r.records))); len(done) >= need && need > 0 {
		m.t99 = done[need-1]
	}
	from := time.Duration(max(m.warmup, 0)) * time.Second
	successes, requests, limited := 0, 0, 0
	for _, e := range r.events {
		requests++
		if e.status == http.StatusTooManyRequests {
			limited++
		}
		if e.at >= from && e.at < m.t99 && e.status >= 200 && e.status < 300 {
			successes++
		}
	}
	if allowed := limitIntegral(r.schedule, from, m.t99); allowed > 0 {
		m.achieved = float64(successes) / allowed
	}
	if requests > 0 {
		m.share = float64(limited) / float64(requests)
	}
	m.drop, m.rise = adaptation(r.schedule, sent, ok)
	return m
}

// adaptation returns the seconds to adapt after the schedule's drop and
// after its rise (0 when the schedule has none, -1 when never).
func adaptation(sched []step, sent, ok []int) (drop, rise int) {
	for i := 1; i < len(sched); i++ {
		k0 := int(sched[i].at / time.Second)
		got := -1
		for k := k0; k < len(sent) && got < 0; k++ {
			if sched[i].limit < sched[i-1].limit && float64(sent[k]) <= 1.1*sched[i].limit {
				got = k + 1 - k0
			}
			if sched[i].limit > sched[i-1].limit && float64(ok[k]) >= 0.9*sched[i].limit {
				got = k + 1 - k0
			}
		}
		if sched[i].limit < sched[i-1].limit {
			drop = got
		} else {
			rise = got
		}
	}
	return drop, rise
}

func printTable(results []result, concurrency int) {
	fmt.Printf("Adaptive rate vs fixed rates, %d workers, retries 4 (waits 1 s..30 s), fake limit L with a burst of L/10\n\n", concurrency)
	fmt.Println("| limit | policy | warm-up (s) | achieved (× L) | 429 share | drop (s) | rise (s) | records failed | 99% done at (s) | final rate (/s) |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		m := measure(r)
		t99 := fmt.Sprintf("%.1f", m.t99.Seconds())
		if m.done < int(math.Ceil(0.99*float64(r.records))) {
			t99 = fmt.Sprintf("not by %.0f (%d%% done)", r.elapsed.Seconds(), 100*m.done/r.records)
		}
		fmt.Printf("| %s | %s | %s | %.3f | %.2f%% | %s | %s | %d | %s | %.0f |\n", r.name, r.policy, seconds(m.warmup),
			m.achieved, 100*m.share, seconds(m.drop), seconds(m.rise), r.failed, t99, r.final)
	}
}

func seconds(s int) string {
	switch s {
	case -1:
		return "never"
	case 0:
		return "—"
	}
	return fmt.Sprint(s)
}
