package blueshift

import (
	"fmt"
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
// share is over every request of the run. Where the law meets a goal the
// test asserts it with a margin (a law that only just meets a goal here
// does not meet it under load); where it does not, the test says so and
// asserts what the law keeps. The fleet rows (shares of 2 and 4 clients,
// 0.5% random 429s) are TestControllersSharingALimitConvergeToFairShares
// and TestRandom429sAreNotCongestion.

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
// 429s, warm-up ≤ 5 s). Asserted with a margin (≥ 0.96 × L) at L = 50 and
// 200 (0.982-0.987 and 0.985-0.986 × L, 0.36% and 0.53% 429s, warm-up 3
// and 5 s over the six seeds). At L = 20 the goal is NOT met in the
// simulation (0.870-0.926 × L, 0.9-1.1% 429s, warm-up 2 s): after each cut
// the rate returns to 0.9 × the last 3 s of successes + 0.5/s, below the
// limit; this asserts what the law keeps there.
func TestGoalOneClient(t *testing.T) {
	for _, tc := range []struct {
		limit    float64
		achieved float64
	}{
		{20, 0.85},
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
// ratebench counts it. Achieved is met with a margin (0.932 × L). The 429
// share is NOT met: 5.13% (one 429 per return-and-probe cycle of about
// 6.5 s, 3% of the calls, and 2 in the first second). Before the first
// cut took the accepted share (acceptedShare) it was 5.7-6.3%, with 4-5
// 429s in the first 2 s while the rate stepped down from its initial
// 10/s; TestALowLimitAlone, which counts from 5 s, gives about 4%.
func TestGoalLowLimit(t *testing.T) {
	for seed := uint64(1); seed <= goalSeeds; seed++ {
		r := runAlone(5, 2*time.Millisecond, 0, 40*time.Second, seed)
		t.Logf("seed %d: %v", seed, r)
		assert.GreaterOrEqual(t, r.achieved, 0.88, "seed %d: achieved", seed)
		assert.LessOrEqual(t, r.share, 0.055, "seed %d: 429 share", seed)
	}
}

// TestGoalSlowAnswers: answers 1 s after the request, L = 50 (issue 20's
// goal: ≥ 0.85 × L, ≤ 3% 429s, warm-up ≤ 15 s), asserted with a margin
// (≥ 0.87 × L). Simulated: 0.989-0.993 × L, 2.6-2.7% 429s, warm-up 5 s.
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
// 0.7 × L/4 a second, as ratebench measures them. Issue 20's goal, 20 s,
// is NOT met in every seed: 5, 21, 5, 17, 9 and 8 s (26 s in the second
// before the first cut took the accepted share). Asserted: every
// joiner gets there within 30 s, and most within 20.
func TestGoalLateJoiner(t *testing.T) {
	const limit, n, late = 100.0, 4, 10
	within20 := 0
	for seed := uint64(1); seed <= goalSeeds; seed++ {
		members := make([]member, n)
		for i := range members {
			members[i] = member{c: newRateController(10, 1000)}
		}
		members[n-1].start = late * time.Second
		secs := simulateFleet(world{srv: newBucket(limit), latency: 2 * time.Millisecond, jitter: time.Millisecond,
			rng: rand.New(rand.NewPCG(seed, 7))}, members, 40*time.Second)
		joined := -1
		for k := late + 5; k <= len(secs[n-1]); k++ {
			if _, ok, _ := totals(secs[n-1], k-5, k); float64(ok)/5 >= 0.7*limit/n {
				joined = k - late
				break
			}
		}
		t.Logf("seed %d: the joiner reached 0.7 × L/4 %d s after joining", seed, joined)
		assert.Positive(t, joined, "seed %d: reached", seed)
		assert.LessOrEqual(t, joined, 30, "seed %d: seconds after joining", seed)
		if joined > 0 && joined <= 20 {
			within20++
		}
	}
	assert.GreaterOrEqual(t, within20, goalSeeds-1, "seeds in which the joiner got there within 20 s")
}
