package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// fleetScenario is a run of one or more auto clients (WithAdaptiveRate(10,
// 1000), each with its own workers) against one fake for a fixed time:
// clients that share one limit, a client that joins late, a low limit,
// slow answers, 429s at random.
type fleetScenario struct {
	name        string
	limit       float64
	clients     int
	procs       bool          // each client in a process of its own
	late        time.Duration // the last client starts this late
	delay       time.Duration // the fake answers this late (its limit counts arrivals)
	noise       float64       // this fraction of requests is answered 429 at random, before the limit
	concurrency int           // workers per client
	duration    time.Duration
	goal        string
	met         func(fleetMetrics, float64) bool // the goal, given the metrics and the limit
}

// fleetScenarios are the shared-limit and hard-case runs, each lasting d
// (40 s by default; the late joiner starts at d/4).
func fleetScenarios(d time.Duration) []fleetScenario {
	fair := func(m fleetMetrics, _ float64) bool {
		return m.total >= 0.9 && m.share429 <= 0.03 && m.minShare >= 0.7 && m.maxShare <= 1.3
	}
	single := func(achieved, share float64, warm int) func(fleetMetrics, float64) bool {
		return func(m fleetMetrics, _ float64) bool {
			return m.achieved >= achieved && m.share429 <= share && m.warmup > 0 && m.warmup <= warm
		}
	}
	return []fleetScenario{
		{name: "2 clients, one process", limit: 50, clients: 2, concurrency: 16, duration: d,
			goal: "total ≥ 0.9, ≤ 3% 429s, shares 0.7-1.3", met: fair},
		{name: "4 clients, one process", limit: 50, clients: 4, concurrency: 16, duration: d,
			goal: "total ≥ 0.9, ≤ 3% 429s, shares 0.7-1.3", met: fair},
		{name: "2 processes", limit: 50, clients: 2, procs: true, concurrency: 16, duration: d,
			goal: "total ≥ 0.9, ≤ 3% 429s, shares 0.7-1.3", met: fair},
		{name: "late joiner (4th client)", limit: 100, clients: 4, late: d / 4, concurrency: 16, duration: d,
			goal: "joiner ≥ 0.7 × L/4 within 20 s", met: func(m fleetMetrics, _ float64) bool { return m.join > 0 && m.join <= 20 }},
		{name: "low limit", limit: 5, clients: 1, concurrency: 16, duration: d,
			goal: "≥ 0.85 × L, ≤ 5% 429s", met: single(0.85, 0.05, math.MaxInt)},
		{name: "one client, L = 18", limit: 18, clients: 1, concurrency: 16, duration: d,
			goal: "(no goal; below 20/s the fake's burst is 1)", met: nil},
		{name: "round trip 200 ms", limit: 50, clients: 1, delay: 200 * time.Millisecond, concurrency: 32, duration: d,
			goal: "(no goal; for the trend)", met: nil},
		{name: "round trip 1 s", limit: 50, clients: 1, delay: time.Second, concurrency: 128, duration: d,
			goal: "≥ 0.85 × L, ≤ 3% 429s, warm-up ≤ 15 s", met: single(0.85, 0.03, 15)},
		{name: "0.5% random 429s", limit: 200, clients: 1, noise: 0.005, concurrency: 16, duration: d,
			goal: "≥ 0.8 × L", met: single(0.8, 1, math.MaxInt)},
	}
}

// fleetEvent is one request as the fake received it, and which client
// sent it.
type fleetEvent struct {
	at     time.Duration
	client int
	status int
}

// fleetRecorder times every request with its client (told by the
// User-Agent), and answers a fraction of them 429 at random.
type fleetRecorder struct {
	next  http.Handler
	start time.Time
	noise float64
	mu    sync.Mutex
	log   []fleetEvent
}

const clientTag = "ratebench-client/"

func (r *fleetRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Since(r.start)
	client := -1
	if i := strings.LastIndex(req.UserAgent(), clientTag); i >= 0 {
		client, _ = strconv.Atoi(req.UserAgent()[i+len(clientTag):])
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if r.noise > 0 && rand.Float64() < r.noise {
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
		sw.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(sw, `{"message":"Rate limit exceeded"}`)
	} else {
		r.next.ServeHTTP(sw, req)
	}
	r.mu.Lock()
	r.log = append(r.log, fleetEvent{at, client, sw.status})
	r.mu.Unlock()
}

// fleetResult is what one fleet run measured.
type fleetResult struct {
	fleetScenario
	events []fleetEvent
	finals []float64 // each client's Rate() at its end
}

// runFleet runs sc: a fake with sc's limit and delay, behind a recorder,
// and sc.clients clients loading it until the run ends.
func runFleet(sc fleetScenario) fleetResult {
	fake := blueshifttest.NewServer(blueshifttest.WithRateLimit(sc.limit, 0), blueshifttest.WithRecordLimit(0))
	defer fake.Close()
	fake.SetDelay(sc.delay)
	rec := &fleetRecorder{next: fake, noise: sc.noise}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	rec.start = time.Now()
	res := fleetResult{fleetScenario: sc, finals: make([]float64, sc.clients)}
	var wg sync.WaitGroup
	for i := range sc.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Duration(0)
			if i == sc.clients-1 {
				start = sc.late
			}
			time.Sleep(start)
			if sc.procs {
				res.finals[i] = loadInChild(srv.URL, fake.APIKey, i, sc.concurrency, sc.duration-start)
			} else {
				res.finals[i] = load(srv.URL, fake.APIKey, i, sc.concurrency, sc.duration-start)
			}
		}()
	}
	wg.Wait()
	rec.mu.Lock()
	res.events = rec.log
	rec.mu.Unlock()
	return res
}

// load is one client of a fleet: concurrency workers calling StartTracking
// with new customers for d, through one Client built as the CLI builds it
// with --rate auto. It returns the client's final Rate().
func load(url, key string, index, concurrency int, d time.Duration) float64 {
	client, err := blueshift.NewClient(key, blueshift.WithBaseURL(url), blueshift.WithAdaptiveRate(10, 1000),
		blueshift.WithUserAgent(clientTag+strconv.Itoa(index)), blueshift.WithRetryBudget(0),
		blueshift.WithMaxConnsPerHost(concurrency), blueshift.WithRetryMax(4),
		blueshift.WithRetryWait(time.Second, 30*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratebench:", err)
		os.Exit(1)
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				_, _ = client.StartTracking(ctx, blueshift.Customer{CustomerID: fmt.Sprintf("C%d-%d-%d", index, w, n)})
			}
		}()
	}
	wg.Wait()
	return client.Rate()
}

// loadInChild runs load in a new process of this program (-child-url
// ...), which prints its final rate.
func loadInChild(url, key string, index, concurrency int, d time.Duration) float64 {
	self, err := os.Executable()
	if err == nil {
		cmd := exec.Command(self, "-child-url", url, "-child-key", key, "-child-index", strconv.Itoa(index),
			"-concurrency", strconv.Itoa(concurrency), "-child-for", d.String())
		cmd.Stderr = os.Stderr
		var out []byte
		if out, err = cmd.Output(); err == nil {
			var rate float64
			if _, err = fmt.Sscan(string(out), &rate); err == nil {
				return rate
			}
		}
	}
	fmt.Fprintln(os.Stderr, "ratebench: child process:", err)
	os.Exit(1)
	return 0
}

// fleetMetrics are the figures of one fleet run. Shares and totals are
// over the second half of the run (the last 20 s of 40 s).
type fleetMetrics struct {
	total              float64 // successes over the limit's allowance
	share429           float64 // 429s over all requests of the run
	minShare, maxShare float64 // each client's successes over L/N's allowance
	warmup             int     // seconds until a 1-s window with 0.9 × L successes; -1: never
	achieved           float64 // successes from warm-up to the end, over the allowance
	join               int     // seconds from the late start until the joiner's 5-s window reaches 0.7 × L/N a second; -1: never
	joinShare          float64 // the joiner's successes over L/N in the 5 s ending 20 s after it joined
}

func measureFleet(r fleetResult) fleetMetrics {
	secs := int(r.duration / time.Second)
	ok := make([][]int, r.clients) // successes per client per second
	for i := range ok {
		ok[i] = make([]int, secs+1)
	}
	all := make([]int, secs+1)
	m := fleetMetrics{warmup: -1, join: -1, minShare: math.Inf(1)}
	limited := 0
	for _, e := range r.events {
		if e.status == http.StatusTooManyRequests {
			limited++
		}
		k := min(int(e.at/time.Second), secs)
		if e.status >= 200 && e.status < 300 && e.client >= 0 && e.client < r.clients {
			ok[e.client][k]++
			all[k]++
		}
	}
	if len(r.events) > 0 {
		m.share429 = float64(limited) / float64(len(r.events))
	}
	half := secs / 2
	fair := r.limit / float64(r.clients)
	for i := range ok {
		s := float64(sum(ok[i][half:secs])) / float64(secs-half) / fair
		m.minShare, m.maxShare = math.Min(m.minShare, s), math.Max(m.maxShare, s)
	}
	m.total = float64(sum(all[half:secs])) / float64(secs-half) / r.limit
	for k := range secs {
		if float64(all[k]) >= 0.9*r.limit {
			m.warmup = k + 1
			break
		}
	}
	from := max(m.warmup, 0)
	m.achieved = float64(sum(all[from:secs])) / float64(secs-from) / r.limit
	if r.late > 0 {
		j, joiner := int(r.late/time.Second), ok[r.clients-1]
		for k := j + 5; k <= secs; k++ {
			if float64(sum(joiner[k-5:k]))/5 >= 0.7*fair {
				m.join = k - j
				break
			}
		}
		if end := j + 20; end <= secs {
			m.joinShare = float64(sum(joiner[end-5:end])) / 5 / fair
		}
	}
	return m
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func printFleetTable(results []fleetResult) {
	fmt.Printf("\nShared limits and hard cases: auto (WithAdaptiveRate(10, 1000)) only, each client with its own workers; shares and totals over the second half of each run\n\n")
	fmt.Println("| scenario | L | clients | run (s) | total, 2nd half (× L) | 429 share | shares, 2nd half (× L/N) | warm-up (s) | achieved after warm-up (× L) | joiner: s to 0.7 × L/N | final rates (/s) | goal | met |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|---|")
	for _, r := range results {
		m := measureFleet(r)
		shares, join := "—", "—"
		if r.clients > 1 {
			shares = fmt.Sprintf("%.2f-%.2f", m.minShare, m.maxShare)
		}
		if r.late > 0 {
			join = fmt.Sprintf("%s (share at 20 s: %.2f)", seconds(m.join), m.joinShare)
		}
		finals := make([]string, len(r.finals))
		for i, f := range r.finals {
			finals[i] = fmt.Sprintf("%.0f", f)
		}
		met := "—"
		if r.met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[r.met(m, r.limit)]
		}
		fmt.Printf("| %s | %g | %d | %.0f | %.3f | %.2f%% | %s | %s | %.3f | %s | %s | %s | %s |\n", r.name, r.limit, r.clients,
			r.duration.Seconds(), m.total, 100*m.share429, shares, seconds(m.warmup), m.achieved, join, strings.Join(finals, ", "), r.goal, met)
	}
}

// runFleets runs the fleet scenarios in parallel (one at a time if
// serial).
func runFleets(scenarios []fleetScenario, serial bool) []fleetResult {
	results := make([]fleetResult, len(scenarios))
	inParallel(len(scenarios), serial, func(i int) {
		results[i] = runFleet(scenarios[i])
		fmt.Fprintf(os.Stderr, "done: %s\n", scenarios[i].name)
	})
	return results
}

// printFleetTrace prints each second of a fleet run: successes and 429s
// per client.
func printFleetTrace(w io.Writer, r fleetResult) {
	secs := int(r.duration/time.Second) + 1
	ok, limited := make([][]int, r.clients), make([][]int, r.clients)
	for i := range ok {
		ok[i], limited[i] = make([]int, secs), make([]int, secs)
	}
	for _, e := range r.events {
		if e.client < 0 || e.client >= r.clients {
			continue
		}
		k := min(int(e.at/time.Second), secs-1)
		switch {
		case e.status >= 200 && e.status < 300:
			ok[e.client][k]++
		case e.status == http.StatusTooManyRequests:
			limited[e.client][k]++
		}
	}
	fmt.Fprintf(w, "# %s, L = %g: second, then per client successes/429s\n", r.name, r.limit)
	for k := range secs {
		fmt.Fprintf(w, "%d", k+1)
		for i := range ok {
			fmt.Fprintf(w, "\t%d/%d", ok[i][k], limited[i][k])
		}
		fmt.Fprintln(w)
	}
}
