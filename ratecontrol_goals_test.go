package blueshift

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The goals of issue 20 read in the fake-clock simulation
// (ratecontrol_fleet_test.go), six seeds of its jitter each, the way
// ratebench reads them on a real machine: warm-up is the end of the first
// second with at least 0.9 × L successes; achieved is the successes a
// second from the end of warm-up to the end of the run, over L; the 429
// share is over every request of the run. Where the law meets a goal in
// every seed the test asserts it with a margin (a law that only just
// meets a goal here does not meet it under load); where it meets it in
// most seeds, the test counts the seeds. The fleet rows (shares of 2 and
// 4 clients, 0.5% random 429s) are
// TestControllersSharingALimitConvergeToFairShares and
// TestRandom429sAreNotCongestion.

// goalSeeds are the seeds of every goal test.
const goalSeeds = 6

// singleRun is what one client achieved alone in a simulation.
type singleRun struct {
	warm     int // seconds; -1: never
	achieved float64
	share    float64
}

func (r singleRun) String() string {
	return fmt.Sprintf("warm-up %d s, achieved %.3f × L, 429 share %.2f%%", r.warm, r.achieved, 100*r.share)
}

// runAlone simulates one controller (WithAdaptiveRate(10, 1000), what
// --rate auto is) against a bucket of limit for d.
func runAlone(limit float64, latency time.Duration, noise float64, d time.Duration, seed uint64) singleRun {
	secs := simulateFleet(world{srv: newBucket(limit), latency: latency, jitter: time.Millisecond, noise: noise,
		rng: rand.New(rand.NewPCG(seed, 7))}, []member{{c: newRateController(10, 1000)}}, d)[0]
	r := singleRun{warm: -1}
	for i, s := range secs {
		if float64(s.ok) >= 0.9*limit {
			r.warm = i + 1
			break
		}
	}
	sent, _, throttled := totals(secs, 0, len(secs))
	_, ok, _ := totals(secs, max(r.warm, 0), len(secs))
	r.achieved = float64(ok) / float64(len(secs)-max(r.warm, 0)) / limit
	r.share = float64(throttled) / float64(sent)
	return r
}

// TestGoalOneClient: one client alone (issue 20's goal: ≥ 0.95 × L, ≤ 2%
// 429s, warm-up ≤ 5 s), asserted with a margin (≥ 0.96 × L). Simulated
// over the six seeds: 0.962-0.970, 0.982-0.987 and 0.983-0.987 × L at
// L = 20, 50 and 200, with 1.0%, 0.36% and 0.53% 429s and warm-ups of 2,
// 3 and 5 s. The law before this one, which returned to 0.9 × the base +
// 0.5/s after each cut, kept 0.870-0.926 × L at L = 20.
func TestGoalOneClient(t *testing.T) {
	for _, tc := range []struct {
		limit    float64
		achieved float64
	}{
		{20, 0.96},
		{50, 0.96},
		{200, 0.96},
	} {
		t.Run(fmt.Sprintf("L=%v", tc.limit), func(t *testing.T) {
			for seed := uint64(1); seed <= goalSeeds; seed++ {
				r := runAlone(tc.limit, 2*time.Millisecond, 0, 40*time.Second, seed)
				t.Logf("seed %d: %v", seed, r)
				assert.Positive(t, r.warm, "seed %d: warm-up", seed)
				assert.LessOrEqual(t, r.warm, 5, "seed %d: warm-up", seed)
				assert.GreaterOrEqual(t, r.achieved, tc.achieved, "seed %d: achieved", seed)
				assert.LessOrEqual(t, r.share, 0.02, "seed %d: 429 share", seed)
			}
		})
	}
}

// TestGoalLowLimit: L = 5 against a bucket with a burst of 1 (issue 20's
// goal: ≥ 0.85 × L, ≤ 5% 429s), with the 429 share over the whole run as
// ratebench counts it, asserted with a margin (≥ 0.88 × L, ≤ 4.5%).
// Simulated: 0.889-0.921 × L, 4.17-4.30% 429s (the law before this one:
// 0.932 × L with 5.13%, one 429 per cycle of about 6.5 s). Below 10/s the
// additive increase is slower (0.0625/s a second at 5/s), so that a cycle
// holds about 40 calls.
func TestGoalLowLimit(t *testing.T) {
	for seed := uint64(1); seed <= goalSeeds; seed++ {
		r := runAlone(5, 2*time.Millisecond, 0, 40*time.Second, seed)
		t.Logf("seed %d: %v", seed, r)
		assert.GreaterOrEqual(t, r.achieved, 0.88, "seed %d: achieved", seed)
		assert.LessOrEqual(t, r.share, 0.045, "seed %d: 429 share", seed)
	}
}

// TestOneClientBelow20: one client alone between 8 and 18 a second, where
// the bucket's burst is 1 (a tenth of a second's worth, at least 1) and
// its 429s start below the limit. Not among issue 20's goals; asserted so
// that the law does not lose ground again: at least 0.8 × L with at most
// 4% 429s. Simulated: 0.868-0.886, 0.905-0.915, 0.888-0.901, 0.850-0.859
// and 0.800-0.815 × L at L = 8, 10, 12, 15 and 18 (the law before this
// one: 0.76-0.79, 0.71-0.80, 0.83-0.84, 0.81-0.82 and 0.76-0.77; the law
// before issue 20: 0.86-0.91 with 2-5.5% 429s).
func TestOneClientBelow20(t *testing.T) {
	for _, limit := range []float64{8, 10, 12, 15, 18} {
		for seed := uint64(1); seed <= goalSeeds; seed++ {
			r := runAlone(limit, 2*time.Millisecond, 0, 40*time.Second, seed)
			t.Logf("L=%v, seed %d: %v", limit, seed, r)
			assert.GreaterOrEqual(t, r.achieved, 0.79, "L=%v, seed %d: achieved", limit, seed)
			assert.LessOrEqual(t, r.share, 0.04, "L=%v, seed %d: 429 share", limit, seed)
		}
	}
}

// TestGoalSlowAnswers: answers 1 s after the request, L = 50 (issue 20's
// goal: ≥ 0.85 × L, ≤ 3% 429s, warm-up ≤ 15 s), asserted with a margin
// (≥ 0.87 × L). Simulated: 0.993-0.998 × L, 2.43-2.60% 429s, warm-up 5 s.
func TestGoalSlowAnswers(t *testing.T) {
	for seed := uint64(1); seed <= goalSeeds; seed++ {
		r := runAlone(50, time.Second, 0, 40*time.Second, seed)
		t.Logf("seed %d: %v", seed, r)
		assert.Positive(t, r.warm, "seed %d: warm-up", seed)
		assert.LessOrEqual(t, r.warm, 15, "seed %d: warm-up", seed)
		assert.GreaterOrEqual(t, r.achieved, 0.87, "seed %d: achieved", seed)
		assert.LessOrEqual(t, r.share, 0.03, "seed %d: 429 share", seed)
	}
}

// TestGoalLateJoiner: 4 clients at L = 100, the 4th from 10 s; the seconds
// from its start until its successes over a trailing 5-s window reach
// 0.7 × L/4 a second, as ratebench measures them, over fleetSeeds seeds.
// Issue 20's goal, 20 s, is met in most seeds, not in all: where the
// 429s reach the joiner more often than the others for a while it climbs
// back at the same 0.25/s a second as they do. Asserted: within 20 s in
// at least 20 of 24 seeds (this law: 22; the law before it: 17), and
// within the 30-s run after joining in at least 22.
func TestGoalLateJoiner(t *testing.T) {
	within20, within30 := 0, 0
	for seed := uint64(1); seed <= fleetSeeds; seed++ {
		joined := joinerSeconds(seed)
		t.Logf("seed %d: the joiner reached 0.7 × L/4 %d s after joining", seed, joined)
		if joined > 0 {
			within30++
			if joined <= 20 {
				within20++
			}
		}
	}
	t.Logf("within 20 s in %d of %d seeds, within 30 s in %d", within20, fleetSeeds, within30)
	assert.GreaterOrEqual(t, within20, 20, "seeds in which the joiner got there within 20 s")
	assert.GreaterOrEqual(t, within30, 22, "seeds in which the joiner got there within 30 s")
}

// joinerSeconds simulates 4 clients at L = 100, the 4th from 10 s, and
// returns the seconds from its start until its successes over a trailing
// 5-s window reach 0.7 × L/4 a second, or -1 if they never do in 40 s.
func joinerSeconds(seed uint64) int {
	const limit, n, late = 100.0, 4, 10
	members := make([]member, n)
	for i := range members {
		members[i] = member{c: newRateController(10, 1000)}
	}
	members[n-1].start = late * time.Second
	secs := simulateFleet(world{srv: newBucket(limit), latency: 2 * time.Millisecond, jitter: time.Millisecond,
		rng: rand.New(rand.NewPCG(seed, 7))}, members, 40*time.Second)
	for k := late + 5; k <= len(secs[n-1]); k++ {
		if _, ok, _ := totals(secs[n-1], k-5, k); float64(ok)/5 >= 0.7*limit/n {
			return k - late
		}
	}
	return -1
}

// goalSeedsFlag is how many seeds TestGoalRowsOverSeeds runs: `go test
// -run TestGoalRowsOverSeeds -v . -goal-seeds=48` prints the table of
// docs/adaptive-rate.md.
var goalSeedsFlag = flag.Int("goal-seeds", 12, "seeds of TestGoalRowsOverSeeds")

// TestGoalRowsOverSeeds reads every goal row of issue 20 over many seeds
// and counts the seeds in which the row's whole goal is met: a fleet row
// is met in most seeds, not in all, and only the count tells a law that
// loses ground. Asserted: the single-client rows in every seed, the
// others in at least the share of seeds given (this law over 48 seeds:
// random 429s 36, 2 clients 48, 4 clients 36, 4 with a late joiner 43,
// the joiner within 20 s 40).
func TestGoalRowsOverSeeds(t *testing.T) {
	seeds := uint64(*goalSeedsFlag)
	single := func(limit float64, latency time.Duration, noise float64, met func(singleRun) bool) func(uint64) bool {
		return func(seed uint64) bool { return met(runAlone(limit, latency, noise, 40*time.Second, seed)) }
	}
	oneClient := func(r singleRun) bool { return r.warm > 0 && r.warm <= 5 && r.achieved >= 0.95 && r.share <= 0.02 }
	fleet := func(n int, limit float64, late time.Duration) func(uint64) bool {
		return func(seed uint64) bool {
			shares, total, throttled := fleetShares(n, limit, late, 40*time.Second+late, seed)
			met := total >= 0.9 && throttled <= 0.03
			for _, s := range shares {
				met = met && s >= 0.7 && s <= 1.3
			}
			return met
		}
	}
	lateShare := func(limit float64) func(uint64) bool {
		return func(seed uint64) bool {
			shares, _, _ := fleetShares(2, limit, 10*time.Second, 120*time.Second, seed)
			return shares[1] >= 0.7 && shares[1] <= 1.3
		}
	}
	rows := []struct {
		name string
		met  func(uint64) bool
		min  float64 // share of seeds
	}{
		{"1 client, L = 20 (≥ 0.95 × L, ≤ 2%, warm-up ≤ 5 s)", single(20, 2*time.Millisecond, 0, oneClient), 1},
		{"1 client, L = 50 (the same)", single(50, 2*time.Millisecond, 0, oneClient), 1},
		{"1 client, L = 200 (the same)", single(200, 2*time.Millisecond, 0, oneClient), 1},
		{"L = 5 (≥ 0.85 × L, ≤ 5% over the whole run)", single(5, 2*time.Millisecond, 0, func(r singleRun) bool {
			return r.achieved >= 0.85 && r.share <= 0.05
		}), 1},
		{"round trip 1 s, L = 50 (≥ 0.85 × L, ≤ 3%, warm-up ≤ 15 s)", single(50, time.Second, 0, func(r singleRun) bool {
			return r.warm > 0 && r.warm <= 15 && r.achieved >= 0.85 && r.share <= 0.03
		}), 1},
		{"0.5% random 429s, L = 200 (≥ 0.8 × L)", single(200, 2*time.Millisecond, 0.005, func(r singleRun) bool {
			return r.achieved >= 0.8
		}), 0.6},
		{"2 clients, L = 50 (total ≥ 0.9 × L, ≤ 3%, shares 0.7-1.3)", fleet(2, 50, 0), 0.9},
		{"4 clients, L = 50 (the same)", fleet(4, 50, 0), 0.6},
		{"4 clients at L = 100, the 4th 10 s late: shares (the same)", fleet(4, 100, 10*time.Second), 0.7},
		{"late joiner: its share ≥ 0.7 × L/4 within 20 s", func(seed uint64) bool {
			j := joinerSeconds(seed)
			return j > 0 && j <= 20
		}, 0.7},
		{"(no goal) 1 client, L = 10: ≥ 0.85 × L, ≤ 3%", single(10, 2*time.Millisecond, 0, func(r singleRun) bool {
			return r.achieved >= 0.85 && r.share <= 0.03
		}), 1},
		{"(no goal) 1 client, L = 15: the same", single(15, 2*time.Millisecond, 0, func(r singleRun) bool {
			return r.achieved >= 0.85 && r.share <= 0.03
		}), 1},
		{"(no goal) 2 clients at L = 200, the 2nd 10 s late: its share of the last 20 s of 120 within 0.7-1.3", lateShare(200), 0.3},
		{"(no goal) the same at L = 50", lateShare(50), 0.8},
	}
	t.Logf("| row (goal) | seeds met of %d |", seeds)
	t.Logf("|---|---:|")
	for _, row := range rows {
		met := 0
		for seed := uint64(1); seed <= seeds; seed++ {
			if row.met(seed) {
				met++
			}
		}
		t.Logf("| %s | %d |", row.name, met)
		assert.GreaterOrEqual(t, float64(met), math.Floor(row.min*float64(seeds)), row.name)
	}
}
