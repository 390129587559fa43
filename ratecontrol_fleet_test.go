package blueshift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// member is one client of a fleet simulation: its controller, and when it
// starts sending.
type member struct {
	c     *rateController
	start time.Duration
}

// world is the server side of a fleet simulation: a limit shared by every
// client, how long each answer takes, and, from a seeded source, 429s sent
// at random (noise: a fraction of requests, before the limit is
// consulted) and a random delay of up to jitter between a grant and the
// request's arrival (scheduling and network), so that no client's sends
// lock into step with the limiter's refills.
type world struct {
	srv     *bucket
	latency time.Duration
	jitter  time.Duration
	noise   float64
	rng     *rand.Rand
	limit   func(time.Duration) float64 // srv's limit over time; nil: fixed
}

// request is one request of a fleet simulation on its way.
type request struct {
	member  int
	arrival time.Time // at the server
	due     time.Time // its answer at the client
	ok      bool
	epoch   uint64
}

// simulateFleet drives the members with one fake clock for d: each always
// has one more request to send, asks tryAcquire, sends each granted
// request to the shared server, and learns the outcome after the
// latency. It returns what happened in each second, per member.
func simulateFleet(w world, members []member, d time.Duration) [][]second {
	if w.rng == nil {
		w.rng = rand.New(rand.NewPCG(1, 2))
	}
	var inFlight, answered []request // by arrival; by due
	out := make([][]second, len(members))
	for i := range out {
		out[i] = make([]second, int(d/time.Second))
	}
	end := t0.Add(d)
	for now := t0; now.Before(end); {
		if w.limit != nil {
			w.srv.limit = w.limit(now.Sub(t0))
		}
		for len(inFlight) > 0 && !inFlight[0].arrival.After(now) {
			q := inFlight[0]
			inFlight = inFlight[1:]
			q.ok = !(w.noise > 0 && w.rng.Float64() < w.noise) && w.srv.allow(q.arrival)
			q.due = q.arrival.Add(w.latency)
			if k := int(q.arrival.Sub(t0) / time.Second); k < len(out[q.member]) {
				sec := &out[q.member][k]
				sec.sent++
				if q.ok {
					sec.ok++
				} else {
					sec.throttled++
				}
			}
			answered = insertBy(answered, q, func(q request) time.Time { return q.due })
		}
		for len(answered) > 0 && !answered[0].due.After(now) {
			q := answered[0]
			answered = answered[1:]
			c := members[q.member].c
			c.observe(q.due.Sub(q.arrival) + w.jitter/2)
			if q.ok {
				c.succeeded(q.due)
			} else {
				c.throttled(q.due, q.epoch)
			}
		}
		next := now.Add(100 * time.Millisecond) // visit every second
		for i, m := range members {
			if now.Before(at(m.start)) {
				next = minTime(next, at(m.start))
				continue
			}
			out[i][int(now.Sub(t0)/time.Second)].rate = m.c.current(now)
			for {
				epoch, wait, ok := m.c.tryAcquire(now)
				if !ok {
					next = minTime(next, now.Add(max(wait, time.Microsecond)))
					break
				}
				var delay time.Duration
				if w.jitter > 0 {
					delay = time.Duration(w.rng.Int64N(int64(w.jitter)))
				}
				inFlight = insertBy(inFlight, request{member: i, arrival: now.Add(delay), epoch: epoch},
					func(q request) time.Time { return q.arrival })
			}
		}
		if len(inFlight) > 0 {
			next = minTime(next, inFlight[0].arrival)
		}
		if len(answered) > 0 {
			next = minTime(next, answered[0].due)
		}
		now = next
	}
	return out
}

// insertBy inserts q into qs, kept in order of key.
func insertBy(qs []request, q request, key func(request) time.Time) []request {
	i := len(qs)
	for i > 0 && key(qs[i-1]).After(key(q)) {
		i--
	}
	qs = append(qs, request{})
	copy(qs[i+1:], qs[i:])
	qs[i] = q
	return qs
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// totals sums a member's seconds [from, to).
func totals(secs []second, from, to int) (sent, ok, throttled int) {
	for _, s := range secs[from:to] {
		sent, ok, throttled = sent+s.sent, ok+s.ok, throttled+s.throttled
	}
	return sent, ok, throttled
}

// fleetShares runs n controllers against one limit for d, the last one
// starting late, and returns each one's successes over the last 20 s in
// proportion to a fair share (limit/n), the total over the limit, and the
// 429 share of the whole run.
func fleetShares(n int, limit float64, late, d time.Duration, seed uint64) (shares []float64, total, throttled float64) {
	members := make([]member, n)
	for i := range members {
		members[i] = member{c: newRateController(10, 1000)}
	}
	members[n-1].start = late
	secs := simulateFleet(world{srv: newBucket(limit), latency: 2 * time.Millisecond, jitter: time.Millisecond,
		rng: rand.New(rand.NewPCG(seed, 7))}, members, d)
	last := int(d/time.Second) - 20
	allSent, allOK, allThrottled := 0, 0, 0
	for i := range members {
		_, ok, _ := totals(secs[i], last, last+20)
		sent, _, th := totals(secs[i], 0, last+20)
		shares = append(shares, float64(ok)/20/(limit/float64(n)))
		allSent, allOK, allThrottled = allSent+sent, allOK+ok, allThrottled+th
	}
	return shares, float64(allOK) / 20 / limit, float64(allThrottled) / float64(allSent)
}

// fleetSeeds is how many seeds of the jitter the fleet tests run: which
// client a 429 reaches is luck, so a fleet row is met in most seeds, not
// in all, and only many seeds tell a law that loses ground.
const fleetSeeds = 24

// TestControllersSharingALimitConvergeToFairShares: independent clients
// that share one limit (replicas of a service, an outbox, a bulk run)
// share it fairly, whether they start together or one starts later.
// Issue 20's goal for each seed: every share of the last 20 s within
// 0.7-1.3 of L/N, the total at least 0.9 × L, at most 3% 429s. Asserted:
// the goal in at least `met` of 24 seeds (this law meets it in 24, 19 and
// 22 of them; the law before it, with a return to 0.9 × the base + 0.5/s
// after each cut, in 23, 19 and 17, with shares of 0.48 and 1.74), every
// share within 0.5-1.6, and the mean distance from a fair share.
func TestControllersSharingALimitConvergeToFairShares(t *testing.T) {
	for _, tc := range []struct {
		n       int
		limit   float64
		late    time.Duration
		met     int
		meanDev float64 // mean |share - 1| at most
	}{
		{2, 50, 0, 24, 0.08},
		{4, 50, 0, 18, 0.15},
		{4, 100, 10 * time.Second, 21, 0.15},
	} {
		t.Run(fmt.Sprintf("%d clients, L=%v, last starts %v late", tc.n, tc.limit, tc.late), func(t *testing.T) {
			dev, count, met := 0.0, 0, 0
			for seed := uint64(1); seed <= fleetSeeds; seed++ {
				shares, total, throttled := fleetShares(tc.n, tc.limit, tc.late, 40*time.Second+tc.late, seed)
				t.Logf("seed %d: shares %.2f, total %.3f, 429 share %.4f", seed, shares, total, throttled)
				assert.GreaterOrEqual(t, total, 0.95, "seed %d: total over the limit", seed)
				assert.LessOrEqual(t, throttled, 0.035, "seed %d: 429 share", seed)
				fair := total >= 0.9 && throttled <= 0.03
				for i, s := range shares {
					assert.GreaterOrEqual(t, s, 0.5, "seed %d, client %d", seed, i)
					assert.LessOrEqual(t, s, 1.6, "seed %d, client %d", seed, i)
					dev, count = dev+math.Abs(s-1), count+1
					fair = fair && s >= 0.7 && s <= 1.3
				}
				if fair {
					met++
				}
			}
			t.Logf("issue 20's goal met in %d of %d seeds", met, fleetSeeds)
			assert.GreaterOrEqual(t, met, tc.met, "seeds that meet the goal")
			assert.LessOrEqual(t, dev/float64(count), tc.meanDev, "mean distance from a fair share")
		})
	}
}

// TestALateControllerGainsOnAnEarlyOne: of two clients at L = 200, the one
// that starts 10 s late gains on the other, but slowly: above 100/s each,
// a lone 429 is noise (rateNoise), so the early client is cut less often
// than the late one while it climbs. Its share of the last 20 s grows from
// 0.21-0.24 of a fair share 30 s after it joined to 0.60-0.94 110 s after
// (the law before this one: 0.21-0.31 and 0.39-0.65).
func TestALateControllerGainsOnAnEarlyOne(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		early, _, _ := fleetShares(2, 200, 10*time.Second, 40*time.Second, seed)
		later, total, _ := fleetShares(2, 200, 10*time.Second, 120*time.Second, seed)
		t.Logf("seed %d: the late client's share %.2f after 30 s, %.2f after 110 s", seed, early[1], later[1])
		assert.Greater(t, later[1], early[1]+0.05, "seed %d gains", seed)
		assert.GreaterOrEqual(t, later[1], 0.55, "seed %d", seed)
		assert.GreaterOrEqual(t, total, 0.95, "seed %d", seed)
	}
}

// TestALowLimitAlone: at L = 5 (a bucket with a burst of 1) one client
// keeps at least 0.85 × L with at most 5% 429s (issue 20's goal) from its
// 5th second: 0.895-0.916 × L with 3.1% 429s. Below 10/s the additive
// increase is slower, so that a cycle lasts about 40 calls and its one
// 429 is a small share of them.
func TestALowLimitAlone(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		c := newRateController(10, 1000)
		secs := simulateFleet(world{srv: newBucket(5), latency: 2 * time.Millisecond, jitter: time.Millisecond,
			rng: rand.New(rand.NewPCG(seed, 7))}, []member{{c: c}}, 60*time.Second)
		sent, ok, throttled := totals(secs[0], 5, 60)
		share := float64(throttled) / float64(sent)
		t.Logf("seed %d: %.3f × L, 429 share %.4f", seed, float64(ok)/55/5, share)
		assert.GreaterOrEqual(t, float64(ok)/55/5, 0.85, "seed %d", seed)
		assert.LessOrEqual(t, share, 0.05, "seed %d", seed)
	}
}

// TestRandom429sAreNotCongestion: 0.5% of requests answered 429 at random
// at L = 200. Like every loss-based law this one reads 429s as
// congestion, but above 100/s a 429 while they are at most 1% of the last
// 3 s of answers is taken as noise. Over 10-60 s it keeps 0.65-0.87 × L
// across these seeds: short of issue 20's goal of 0.8 for some (a random
// 429 below 67/s, where every 429 counts, ends the start early). The law
// before issue 20 kept 0.70 × L here (0.26-0.36 measured by a review
// against a real client).
func TestRandom429sAreNotCongestion(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		c := newRateController(10, 1000)
		secs := simulateFleet(world{srv: newBucket(200), latency: 2 * time.Millisecond, jitter: time.Millisecond,
			noise: 0.005, rng: rand.New(rand.NewPCG(seed, 7))}, []member{{c: c}}, 60*time.Second)
		_, ok, _ := totals(secs[0], 10, 60)
		t.Logf("seed %d: %.3f × L", seed, float64(ok)/50/200)
		assert.GreaterOrEqual(t, float64(ok)/50/200, 0.6, "seed %d", seed)
	}
}
