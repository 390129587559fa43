package blueshift

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// bucket is the server side of a simulation: Blueshift's limit as a token
// bucket that starts full (like blueshifttest.WithRateLimit), or, with
// window, as a counter of at most limit requests per calendar second.
type bucket struct {
	limit, burst, tokens float64
	last                 time.Time
	window               bool
}

func newBucket(limit float64) *bucket {
	b := math.Max(1, math.Floor(limit/10))
	return &bucket{limit: limit, burst: b, tokens: b, last: t0}
}

func (b *bucket) allow(now time.Time) bool {
	if b.limit <= 0 {
		return b.limit == 0 // 0: never throttles; < 0: throttles everything
	}
	if b.window {
		if !now.Truncate(time.Second).Equal(b.last.Truncate(time.Second)) {
			b.tokens = b.limit
		}
		b.last = now
		if b.tokens < 1 {
			return false
		}
		b.tokens--
		return true
	}
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.limit)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// second is what happened in one second of a simulation.
type second struct {
	sent, ok, throttled int
	rate                float64 // allowed rate at the start of the second's last visit
}

// simulate drives c alone against srv with a fake clock for d (see
// simulateFleet): answers come back after latency, and limit(t) may change
// srv's limit over time (nil: fixed).
func simulate(c *rateController, srv *bucket, d, latency time.Duration, limit func(time.Duration) float64) []second {
	return simulateFleet(world{srv: srv, latency: latency, limit: limit}, []member{{c: c}}, d)[0]
}

func TestRateGrowsToMaxAndStaysWhenNeverThrottled(t *testing.T) {
	for _, tc := range []struct {
		name         string
		initial, max float64
		reachBy      int // second by whose end the rate is max
	}{
		{"default auto", 10, 1000, 7},   // 10·2^t = 1000 at t = 6.6 s
		{"low max", 10, 50, 3},          // 10·2^t = 50 at t = 2.3 s
		{"initial is max", 100, 100, 1}, // nothing to grow
		{"tiny initial", 0.5, 5, 4},     // 0.5·2^t = 5 at t = 3.3 s
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRateController(tc.initial, tc.max)
			secs := simulate(c, newBucket(0), 60*time.Second, time.Millisecond, nil)
			for i, s := range secs {
				assert.LessOrEqual(t, s.rate, tc.max, "second %d", i)
				assert.Zero(t, s.throttled)
				if i >= tc.reachBy {
					assert.Equal(t, tc.max, s.rate, "second %d", i)
					assert.InDelta(t, tc.max, s.sent, tc.max*0.02+1, "sent in second %d", i)
				}
			}
			assert.Equal(t, uint64(0), c.epoch, "no cut")
		})
	}
}

func TestA429BurstCutsOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		successes int             // spread evenly over [4 s, 5 s)
		burst     int             // 429s at 5 s for requests granted before the first cut
		later     []time.Duration // then 429s for requests granted after the last cut, at 5 s + these
		wantCuts  uint64
		wantRate  float64 // rate right after the last cut
	}{
		// At 5 s the law allows 10·2^5 = 320/s; 200 succeeded in the last
		// second (counted as 201: a second's count is uncertain by one).
		// One 429 among 200 answers is noise (not over 1%): no cut.
		{"a lone 429 at 200/s is noise", 200, 1, nil, 0, 320},
		// The third 429 is over 1% of the answers: a cut to 0.9 × 201;
		// the rest of the burst was granted before it: one episode.
		{"a burst of 50 is one episode", 200, 50, nil, 1, 180.9},
		// Successes above the rate measure no lower limit: the rate stays
		// (320.9 at the fifth 429, the first over 1%), and the episode
		// still counts.
		{"successes above the rate", 400, 10, nil, 1, 320.9},
		// A 429 for a request granted after the cut is a new episode; half
		// a second later 100 succeeded in the last second: cut to 0.9 × 101.
		{"a new episode cuts again", 200, 10, []time.Duration{500 * time.Millisecond}, 2, 90.9},
		// At 5.7 s, 60 succeeded in the last second: 0.9 × 61.
		{"three episodes", 200, 10, []time.Duration{500 * time.Millisecond, 700 * time.Millisecond}, 3, 54.9},
		// Right after a cut the last second still says 200: a new
		// episode keeps 180.9, it does not cascade.
		{"a new episode at once", 200, 10, []time.Duration{time.Millisecond, 2 * time.Millisecond}, 3, 180.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRateController(10, 1000)
			_, _, ok := c.tryAcquire(t0)
			require.True(t, ok)
			for i := range tc.successes {
				c.succeeded(at(4*time.Second + time.Duration(i)*time.Second/time.Duration(tc.successes)))
			}
			require.InDelta(t, 320, c.current(at(5*time.Second)), 1e-9)
			for i := range tc.burst {
				c.throttled(at(5*time.Second+time.Duration(i)*time.Millisecond), 0)
			}
			for _, d := range tc.later {
				c.throttled(at(5*time.Second+d), c.epoch)
			}
			assert.Equal(t, tc.wantCuts, c.epoch)
			assert.InDelta(t, tc.wantRate, c.current(at(5*time.Second+time.Duration(tc.burst)*time.Millisecond+maxOf(tc.later))), 0.5, "rate right after the last cut")
		})
	}
}

func maxOf(ds []time.Duration) time.Duration {
	m := time.Duration(0)
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// cutAt makes c cut at now: 429s for requests granted in the current
// epoch until one is taken as congestion (the first ones may be noise).
func cutAt(t *testing.T, c *rateController, now time.Time) {
	t.Helper()
	epoch := c.epoch
	for range 100 {
		if cut, _, _ := c.throttled(now, epoch); cut {
			return
		}
	}
	t.Fatal("no cut after 100 429s")
}

// TestCutRateGrowsThenProbes: after a cut the rate grows by the same
// 0.25/s every second (the additive increase), and from 4 s after the cut
// also by the cubic probe, up to the maximum.
func TestCutRateGrowsThenProbes(t *testing.T) {
	c := withSuccesses(newRateController(10, 1000), 3*time.Second, 100, 10*time.Millisecond)
	// At 4 s the rate is 160; 100 succeeded in the last second (101 with
	// the uncertainty of one): cut to 0.9 × 101 = 90.9.
	cutAt(t, c, at(4*time.Second))
	q := math.Cbrt(90.9 * 5 * 5) // the probe's growth in its first 2 s
	for _, tc := range []struct {
		after time.Duration
		want  float64
	}{
		{0, 90.9},
		{time.Second, 90.9 + 0.25},
		{2 * time.Second, 90.9 + 0.5},
		{4 * time.Second, 90.9 + 1},           // the probe starts
		{5 * time.Second, 90.9 + 1.25 + q/8},  // slowly at first
		{6 * time.Second, 90.9 + 1.5 + q},     // then faster
		{10 * time.Second, 90.9 + 2.5 + 27*q}, // and faster
		{time.Hour, 1000},                     // up to max, and stays
	} {
		assert.InDelta(t, tc.want, c.current(at(4*time.Second+tc.after)), 0.01, "%v after the cut", tc.after)
	}
}

// TestTheIncreaseIsSlowerAtLowRates: when the rate a cut was made from
// (its base) is below 10/s, the additive increase is 0.1 × base² / 40 a
// second, so that climbing back the 10% a cut took lasts 40 calls: from
// a base of 5/s, 0.0625/s a second.
func TestTheIncreaseIsSlowerAtLowRates(t *testing.T) {
	c := withSuccesses(newRateController(5, 5), 0, 15, 200*time.Millisecond) // 5/s for 3 s
	// Fewer than 20 in the last second: the 3-s count, 15/3 + 1/3 = 5.33
	// successes a second; the base is the rate, 5, and the cut to 0.9 ×
	// 5.33 = 4.8.
	cutAt(t, c, at(3*time.Second))
	assert.InDelta(t, 4.8, c.current(at(3*time.Second)), 1e-9)
	assert.InDelta(t, 4.8+2*0.0625, c.current(at(5*time.Second)), 1e-9, "2 s later")
}

// withSuccesses starts c at t0 and gives it n successes, every apart,
// from `from` on.
func withSuccesses(c *rateController, from time.Duration, n int, every time.Duration) *rateController {
	_, _, _ = c.tryAcquire(t0)
	for i := range n {
		c.succeeded(at(from + time.Duration(i)*every))
	}
	return c
}

// TestCutsAreAtMostHalf: after the process stalled, few requests went out
// in the last second, and the ones held back meet 429s together; the
// successes then say little about the limit, and a cut takes at most half
// of the rate.
func TestCutsAreAtMostHalf(t *testing.T) {
	c := withSuccesses(newRateController(100, 100), 0, 200, 10*time.Millisecond) // 100/s for 2 s
	// A stall from 2 s to 3.5 s: no answers; then 429s.
	cutAt(t, c, at(3500*time.Millisecond))
	assert.InDelta(t, 50, c.current(at(3500*time.Millisecond)), 1e-9, "half, not 0.9 × 1 success a second")
}

func TestRateNeverFallsBelowTheFloor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial float64
		floor   float64
	}{
		{"from the default start", 10, 1},
		{"from a start below 1/s, the floor is the start", 0.25, 0.25},
		{"from a high start", 1000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRateController(tc.initial, 1000)
			secs := simulate(c, newBucket(-1), 120*time.Second, time.Millisecond, nil)
			for i, s := range secs {
				assert.Zero(t, s.ok)
				assert.GreaterOrEqual(t, s.rate, tc.floor, "second %d", i)
			}
			// It reaches the floor and still sends, at about the floor
			// (below 1/s the sends are further apart than the probe's
			// quiet 4 s, so the rate climbs a little between them): the calls end by
			// their retry rules, not by starving.
			lowest, total := math.Inf(1), 0
			for _, s := range secs[60:] {
				lowest, total = math.Min(lowest, s.rate), total+s.sent
			}
			assert.InDelta(t, tc.floor, lowest, 0.1*tc.floor)
			assert.GreaterOrEqual(t, float64(total), 0.9*60*tc.floor)
			assert.LessOrEqual(t, float64(total), 1.5*60*tc.floor+1)
		})
	}
}

func TestRateFollowsAServerLimit(t *testing.T) {
	for _, tc := range []struct {
		limit     float64
		wantWarm  int     // seconds, at most, until a second with 0.9 × limit successes
		wantShare float64 // at most, 429s over all sent
	}{
		{20, 10, 0.03},
		{50, 10, 0.03},
		{200, 10, 0.03},
		{1000, 10, 0.03},
	} {
		t.Run("", func(t *testing.T) {
			c := newRateController(10, 2000)
			secs := simulate(c, newBucket(tc.limit), 60*time.Second, 2*time.Millisecond, nil)
			warm := -1
			sent, throttled, ok := 0, 0, 0
			for i, s := range secs {
				if warm < 0 && float64(s.ok) >= 0.9*tc.limit {
					warm = i + 1
				}
				sent, throttled = sent+s.sent, throttled+s.throttled
				if warm >= 0 && i >= warm {
					ok += s.ok
				}
				assert.GreaterOrEqual(t, s.rate, rateFloor)
			}
			require.Positive(t, warm)
			assert.LessOrEqual(t, warm, tc.wantWarm, "warm-up")
			achieved := float64(ok) / float64(len(secs)-warm) / tc.limit
			assert.GreaterOrEqual(t, achieved, 0.9, "achieved fraction of the limit")
			assert.LessOrEqual(t, achieved, 1.11)
			assert.LessOrEqual(t, float64(throttled)/float64(sent), tc.wantShare, "429 share")
			t.Logf("limit %v: warm-up %d s, achieved %.3f, 429 share %.4f, cuts %d", tc.limit, warm, achieved, float64(throttled)/float64(sent), c.epoch)
		})
	}
}

func TestRateHoldsAgainstAFixedWindowLimiter(t *testing.T) {
	// A limiter that counts requests per calendar second refuses
	// everything from the moment the count is reached until the second
	// ends, whatever the rate: the cut must not cascade to the floor. (With
	// a cut to 0.9 of the rate itself on each episode this achieved 0.46 of
	// a limit of 200.) The 429 share is higher than against a token bucket:
	// each overshoot is refused until the window ends.
	for _, limit := range []float64{20, 50, 200, 1000} {
		c := newRateController(10, 2000)
		srv := newBucket(limit)
		srv.window, srv.tokens = true, limit
		secs := simulate(c, srv, 60*time.Second, 2*time.Millisecond, nil)
		ok, sent, throttled := 0, 0, 0
		for i, s := range secs {
			if i >= 10 {
				ok += s.ok
				assert.GreaterOrEqual(t, s.rate, 0.5*limit, "limit %v, second %d", limit, i)
			}
			sent, throttled = sent+s.sent, throttled+s.throttled
		}
		achieved := float64(ok) / float64(len(secs)-10) / limit
		assert.GreaterOrEqual(t, achieved, 0.85, "limit %v", limit)
		assert.LessOrEqual(t, float64(throttled)/float64(sent), 0.08, "limit %v", limit)
		t.Logf("fixed window %v: achieved %.3f, 429 share %.4f", limit, achieved, float64(throttled)/float64(sent))
	}
}

func TestRateFollowsALimitThatDropsAndRises(t *testing.T) {
	limit := func(d time.Duration) float64 {
		if d >= 30*time.Second && d < 60*time.Second {
			return 50
		}
		return 200
	}
	c := newRateController(10, 1000)
	secs := simulate(c, newBucket(200), 90*time.Second, 2*time.Millisecond, limit)
	drop, rise := -1, -1
	for i := 30; i < 60 && drop < 0; i++ {
		if float64(secs[i].sent) <= 1.1*50 {
			drop = i + 1 - 30
		}
	}
	for i := 60; i < 90 && rise < 0; i++ {
		if float64(secs[i].ok) >= 0.9*200 {
			rise = i + 1 - 60
		}
	}
	assert.Positive(t, drop)
	assert.LessOrEqual(t, drop, 10, "seconds to adapt to the drop")
	assert.Positive(t, rise)
	assert.LessOrEqual(t, rise, 10, "seconds to adapt to the rise")
	// Near the low limit, except for the probes: every few seconds the
	// rate probes above it, and the bucket's burst (still 20, from the
	// limit of 200) lets the first of them through before 429s tell.
	for i := 40; i < 60; i++ {
		assert.LessOrEqual(t, float64(secs[i].sent), 1.4*50, "second %d sends near the low limit", i)
	}
	t.Logf("drop adapted in %d s, rise in %d s", drop, rise)
}

func TestPacingGrantsOnlyWhenDue(t *testing.T) {
	c := newRateController(100, 100)
	now := t0
	_, _, ok := c.tryAcquire(now) // the first slot is free
	require.True(t, ok)
	_, wait, ok := c.tryAcquire(now)
	require.False(t, ok)
	assert.Equal(t, 10*time.Millisecond, wait, "next slot at 100/s")

	// A cut while a waiter waits: its slot is now due at the new rate, not
	// at the one it was told.
	for i := range 50 {
		c.succeeded(now.Add(time.Duration(i) * 10 * time.Millisecond))
	}
	now = now.Add(500 * time.Millisecond)
	c.tokens, c.last = 0, now
	c.throttled(now, 0) // 50 in the last 0.5 s = 100/s (102 with the uncertainty of one call): cut to 91.8/s
	require.InDelta(t, 91.8, c.current(now), 1e-9)
	_, wait, ok = c.tryAcquire(now)
	assert.False(t, ok)
	assert.InDelta(t, float64(time.Second)/91.8, float64(wait), float64(time.Microsecond))
	_, _, ok = c.tryAcquire(now.Add(wait))
	assert.True(t, ok)

	// After an idle spell, at most a small catch-up goes at once: the slot
	// that is due and 10 ms of sends, 2 slots at the 100/s the rate has
	// climbed back to, not a second's worth.
	granted := 0
	for {
		if _, _, ok := c.tryAcquire(now.Add(10 * time.Second)); !ok {
			break
		}
		granted++
	}
	assert.Equal(t, 2, granted)
}

func TestSuccessRateWindow(t *testing.T) {
	c := newRateController(10, 1000)
	c.begin(t0)
	_, ok := c.successRate(at(100 * time.Millisecond))
	assert.False(t, ok, "too little history")
	next := 0 // successes at 100/s, one every 10 ms, fed up to the time asked
	// The rate counts one call more than it saw over its window, as a
	// count is uncertain by one; with fewer than rateFewCalls successes in
	// the last second, the window is rateNoiseWindow (3 s).
	for _, tc := range []struct {
		at    time.Duration
		until time.Duration // successes stop here
		want  float64
	}{
		{500 * time.Millisecond, 3 * time.Second, 102}, // half a second of history: 50 + 1 in 0.5 s
		{2999 * time.Millisecond, 3 * time.Second, 101},
		{3500 * time.Millisecond, 3 * time.Second, 51}, // half of the last second had successes
		{4 * time.Second, 3 * time.Second, 67},         // none in the last second: 200 + 1 in the last 3 s
		{time.Hour, 3 * time.Second, 0.33},
	} {
		for ; time.Duration(next)*10*time.Millisecond <= min(tc.at, tc.until-time.Millisecond); next++ {
			c.succeeded(at(time.Duration(next) * 10 * time.Millisecond))
		}
		s, ok := c.successRate(at(tc.at))
		require.True(t, ok)
		assert.InDelta(t, tc.want, s, math.Max(0.1, 0.05*tc.want), "at %v", tc.at)
	}
}

func TestAdaptiveWaitEndsWithTheContext(t *testing.T) {
	a := newAdaptiveRate(rateFloor, rateFloor) // one slot a second
	_, err := a.wait(context.Background())     // the first is free
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = a.wait(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 50*time.Millisecond, "gives up at once: the slot is due after the deadline")

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = a.wait(ctx)
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestWithAdaptiveRateValidates(t *testing.T) {
	for _, tc := range []struct {
		name         string
		initial, max float64
	}{
		{"zero initial", 0, 10},
		{"negative initial", -1, 10},
		{"max below initial", 10, 5},
		{"NaN initial", math.NaN(), 10},
		{"NaN max", 10, math.NaN()},
		{"infinite max", 10, math.Inf(1)},
		{"infinite both", math.Inf(1), math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := NewClient("abc123", WithAdaptiveRate(tc.initial, tc.max))
			assert.Nil(t, client)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "blueshift: adaptive rate needs 0 < initial <= max")
		})
	}
	for name, opts := range map[string][]Option{
		"rate limit first":    {WithRateLimit(50, 1), WithAdaptiveRate(10, 1000)},
		"adaptive rate first": {WithAdaptiveRate(10, 1000), WithRateLimit(50, 1)},
	} {
		client, err := NewClient("abc123", opts...)
		assert.Nil(t, client, name)
		assert.ErrorIs(t, err, errRateAndAdaptive, name)
	}
}

func TestClientRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want float64
	}{
		{"no limit", nil, 0},
		{"fixed", []Option{WithRateLimit(50, 5)}, 50},
		{"adaptive before the first call", []Option{WithAdaptiveRate(10, 1000)}, 10},
		{"adaptive, equal bounds", []Option{WithAdaptiveRate(2.5, 2.5)}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := NewClient("abc123", tc.opts...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, client.Rate())
		})
	}
}

func TestTinyRatesNeitherOverflowNorSpin(t *testing.T) {
	c := newRateController(5e-324, math.MaxFloat64)
	_, _, ok := c.tryAcquire(at(0))
	require.True(t, ok, "the first slot is free")
	_, wait, ok := c.tryAcquire(at(time.Millisecond))
	assert.False(t, ok)
	assert.Equal(t, time.Duration(math.MaxInt64), wait, "saturates instead of overflowing to a negative wait")

	// The sleeping wait: with a negative wait it used to spin on a core.
	a := newAdaptiveRate(1e-300, math.MaxFloat64)
	_, err := a.wait(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	before := cpuTime(t)
	_, err = a.wait(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, cpuTime(t)-before, 150*time.Millisecond, "a waiter sleeps, it does not spin")
}

func TestDeadlineCheckAllowsForGrowth(t *testing.T) {
	c := newRateController(0.05, 100) // one slot every 20 s now, but doubling every second
	_, _, ok := c.tryAcquire(at(0))
	require.True(t, ok)
	_, wait, _ := c.tryAcquire(at(0))
	assert.Greater(t, wait, 10*time.Second, "at the current rate the slot is far off")
	assert.True(t, c.grantableBy(at(0), at(5*time.Second)), "0.05/s doubling each second has a slot due within 5 s")
	assert.False(t, c.grantableBy(at(0), at(2*time.Second)), "but not within 2 s")

	capped := newRateController(1, 1) // cannot grow
	capped.tryAcquire(at(0))
	assert.False(t, capped.grantableBy(at(0), at(900*time.Millisecond)))
	assert.True(t, capped.grantableBy(at(0), at(time.Second)))
}

// TestSlowAnswersPaceTheGrowth: when answers take as long as the rate's
// doubling period, a 429 arrives after the rate has overshot; the law
// then doubles every two round trips and probes only four round trips
// after a cut, instead of every second and after 4 s (measured before
// this change, at L = 50: 8% 429s at a 1 s round trip, 33% at 2 s).
func TestSlowAnswersPaceTheGrowth(t *testing.T) {
	for _, latency := range []time.Duration{time.Second, 2 * time.Second} {
		for _, limit := range []float64{20, 50, 200} {
			c := newRateController(10, 2000)
			secs := simulate(c, newBucket(limit), 90*time.Second, latency, nil)
			sent, throttled, ok := 0, 0, 0
			for i, s := range secs {
				sent, throttled = sent+s.sent, throttled+s.throttled
				if i >= 30 {
					ok += s.ok
				}
			}
			share := float64(throttled) / float64(sent)
			achieved := float64(ok) / float64(len(secs)-30) / limit
			t.Logf("round trip %v, limit %v: achieved %.3f after 30 s, 429 share %.4f", latency, limit, achieved, share)
			assert.LessOrEqual(t, share, 0.06, "429 share at a %v round trip, limit %v", latency, limit)
			assert.GreaterOrEqual(t, achieved, 0.85, "achieved at a %v round trip, limit %v", latency, limit)
		}
	}
}

// TestAnEarlyCutIsToTheAcceptedShare: in the first rateMinWindow, too
// soon for the successes to measure a rate, the first 429 cuts to 0.9 ×
// the rate (one 429 in two answers is also what a client joining a
// saturated limit meets), and the second to 0.9 × the share of the rate
// the server accepted, if it accepted any: a client starting at 10/s
// against a limit of 5 with a burst of 1 is cut to it at once.
func TestAnEarlyCutIsToTheAcceptedShare(t *testing.T) {
	for _, tc := range []struct {
		name      string
		successes int
		second    func(from float64) float64 // the second cut's rate
	}{
		// One of three answers accepted: 0.9 × 1/3, but a cut takes at
		// most half.
		{"one of three accepted", 1, func(r float64) float64 { return 0.5 * r }},
		{"three of five accepted", 3, func(r float64) float64 { return 0.9 * 0.6 * r }},
		{"none accepted", 0, func(r float64) float64 { return 0.9 * r }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRateController(10, 1000)
			_, _, ok := c.tryAcquire(t0)
			require.True(t, ok)
			for i := range tc.successes {
				c.succeeded(at(time.Duration(i+1) * 10 * time.Millisecond))
			}
			cut, from, to := c.throttled(at(100*time.Millisecond), 0)
			require.True(t, cut)
			assert.InDelta(t, 0.9*from, to, 1e-9, "the first 429: 0.9 × the rate")
			cut, from, to = c.throttled(at(150*time.Millisecond), 1)
			require.True(t, cut)
			assert.InDelta(t, tc.second(from), to, 1e-9, "the second 429")
		})
	}
}
