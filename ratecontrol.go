package blueshift

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"
)

// The adaptive rate's control law (WithAdaptiveRate). Blueshift publishes
// no limit and sends no rate-limit headers, so the only signal is a 429:
//
//   - Growth: the allowed rate doubles every second (rateDoubling) from
//     the initial rate, up to the maximum.
//   - Cut: the first 429 for a request granted after the last cut cuts the
//     rate to rateCut (0.9) times the rate of successful calls over the
//     last second (rateWindow), if that is lower than the rate. When the
//     client runs above Blueshift's limit, the successes over the last
//     second measure that limit, so one cut lands just under it, wherever
//     the rate was when the 429 came (a cut to a fraction of the rate
//     itself would stay above the limit after an overshoot, and collapse
//     to the floor against a limiter that refuses everything until its
//     window ends). A 429 for a request granted before the last cut says
//     nothing new and is ignored: one cut per congestion episode. With
//     less than rateMinWindow of history, the cut is 0.9 of the rate.
//   - Return: after a cut, the rate climbs linearly back to the rate it had
//     before the cut over rateReturn (3 s), then doubles every second again
//     from there, probing for a higher limit.
//   - Slow answers: when the smoothed time from a grant to its answer is
//     long, the rate doubles every two round trips (if that is longer than
//     a second) and returns over four (if longer than 3 s), so that a 429
//     can come back before the rate has overshot far.
//   - Floor: never below rateFloor (1 per second; the initial rate if that
//     is lower), whatever is answered.
//
// The constants come from the measurements in the README ("Adaptive rate").
const (
	rateCut      = 0.9
	rateReturn   = 3 * time.Second
	rateDoubling = time.Second
	rateFloor    = 1.0
	rateWindow   = time.Second
	// rateSlots is how many slots the success window is kept in.
	rateSlots = 10
	// rateMinWindow is the shortest history for which the successes
	// measure a rate; a cut earlier uses the allowed rate alone.
	rateMinWindow = 250 * time.Millisecond
	// rateBurst is how long the pacing may catch up after a slot granted
	// late (timer and scheduling delays), as a duration of sends; at
	// least 2 slots.
	rateBurst = 10 * time.Millisecond
	// rateMaxSleep bounds each sleep of a waiter, so that a rate that grew
	// while it slept is noticed.
	rateMaxSleep = 50 * time.Millisecond
)

// rateController is the adaptive rate: a control law (above) and a pacer
// that grants a send slot only when it is due at the current rate, so that
// after a cut every waiter goes out at the new rate (x/time/rate's Wait
// books future slots at the rate of the moment). Its methods take the time
// from the caller, so that tests drive it with a fake clock. It is safe for
// concurrent use.
type rateController struct {
	mu       sync.Mutex
	initial  float64
	max      float64
	floor    float64
	started  bool
	start    time.Time          // the first grant
	phase    time.Time          // the last cut (or start - rateReturn)
	from, to float64            // the return after the last cut goes from `from` to `to`
	epoch    uint64             // cuts so far; a grant carries the epoch it was made in
	tokens   float64            // pacing: slots that are due
	last     time.Time          // pacing: when tokens were last brought up to date
	slots    [rateSlots + 1]int // successes per slot, newest first
	slotAt   time.Time          // start of the newest success slot
	rtt      time.Duration      // smoothed time from a grant to its answer
}

func newRateController(initial, max float64) *rateController {
	return &rateController{initial: initial, max: max, floor: math.Min(rateFloor, initial)}
}

// begin starts the law's clock at the first request, so a client built
// long before its first call still starts at the initial rate.
func (c *rateController) begin(now time.Time) {
	if c.started {
		return
	}
	c.started, c.start, c.last, c.slotAt = true, now, now, now
	c.phase, c.from, c.to = now.Add(-rateReturn), c.initial, c.initial
	c.tokens = 1
}

// rateAt is the allowed rate at now under the law, in requests per second.
func (c *rateController) rateAt(now time.Time) float64 {
	if !c.started {
		return c.initial
	}
	d := max(now.Sub(c.phase), 0) // callers read the clock before the lock: a little out of order
	var r float64
	if back := c.returning(); d < back {
		r = c.from + (c.to-c.from)*float64(d)/float64(back)
	} else {
		r = c.to * math.Exp2(float64(d-back)/float64(c.doubling()))
	}
	return math.Max(c.floor, math.Min(r, c.max))
}

// doubling is how long the rate takes to double: rateDoubling, or two
// round trips when answers are slower than half of that, so that a 429
// can come back before the rate has overshot much.
func (c *rateController) doubling() time.Duration {
	return max(rateDoubling, 2*c.rtt)
}

// returning is how long the rate takes to climb back after a cut:
// rateReturn, or four round trips when answers are slower than 750 ms.
func (c *rateController) returning() time.Duration {
	return max(rateReturn, 4*c.rtt)
}

// observe takes the time from a grant to its answer into the smoothed
// round trip (an exponential average, 1/8 per answer).
func (c *rateController) observe(rtt time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rtt == 0 {
		c.rtt = rtt
		return
	}
	c.rtt += (rtt - c.rtt) / 8
}

// tryAcquire is the non-blocking step: "may I send now?". It grants a slot
// (ok) and returns the epoch to report a 429 with, or it returns how long
// to wait at the current rate before asking again.
func (c *rateController) tryAcquire(now time.Time) (epoch uint64, wait time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begin(now)
	r := c.rateAt(now)
	if dt := now.Sub(c.last); dt > 0 {
		c.tokens = math.Min(c.tokens+dt.Seconds()*r, math.Max(2, r*rateBurst.Seconds()))
		c.last = now
	}
	if c.tokens >= 1 {
		c.tokens--
		return c.epoch, 0, true
	}
	return 0, durationOf((1 - c.tokens) / r), false
}

// durationOf converts seconds to a Duration, saturating at the longest
// one instead of overflowing (a rate of 1e-300 a second is allowed).
func durationOf(seconds float64) time.Duration {
	if ns := math.Ceil(seconds * float64(time.Second)); ns < float64(math.MaxInt64) {
		return time.Duration(ns)
	}
	return math.MaxInt64
}

// grantableBy reports whether a slot can possibly be granted by deadline:
// whether the slots due by then, if the rate doubled all the way from now
// (it grows no faster) but stayed under the maximum, reach one.
func (c *rateController) grantableBy(now, deadline time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	need := 1 - c.tokens
	if need <= 0 {
		return true
	}
	t := deadline.Sub(now).Seconds()
	if t <= 0 {
		return false
	}
	r := c.rateAt(now)
	growing := r / math.Ln2 * rateDoubling.Seconds() * (math.Exp2(t/rateDoubling.Seconds()) - 1)
	return math.Min(growing, c.max*t) >= need
}

// succeeded counts a successful call in the success window.
func (c *rateController) succeeded(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begin(now)
	c.advance(now)
	c.slots[0]++
}

// advance moves the success window to now: slots[0] is the newest.
func (c *rateController) advance(now time.Time) {
	const slot = rateWindow / rateSlots
	n := int(now.Sub(c.slotAt) / slot)
	if n <= 0 {
		return
	}
	n = min(n, len(c.slots))
	copy(c.slots[n:], c.slots[:len(c.slots)-n])
	clear(c.slots[:n])
	c.slotAt = c.slotAt.Add(now.Sub(c.slotAt).Truncate(slot))
}

// successRate is the rate of successful calls over the last second (over
// the history there is, if shorter), and whether there is enough history
// (rateMinWindow) to measure it. The oldest slot, partly outside the
// second, counts in proportion.
func (c *rateController) successRate(now time.Time) (float64, bool) {
	c.advance(now)
	const slot = rateWindow / rateSlots
	history := now.Sub(c.start)
	if history < rateMinWindow {
		return 0, false
	}
	total := 0.0
	for _, n := range c.slots[:rateSlots] {
		total += float64(n)
	}
	if history < rateWindow {
		return (total + float64(c.slots[rateSlots])) / history.Seconds(), true
	}
	inside := 1 - float64(now.Sub(c.slotAt))/float64(slot)
	return (total + inside*float64(c.slots[rateSlots])) / rateWindow.Seconds(), true
}

// throttled reports a 429 for a request granted in epoch. It cuts the rate
// unless the rate was already cut after that request was granted, and
// returns whether it cut, from what rate to what.
func (c *rateController) throttled(now time.Time, epoch uint64) (cut bool, from, to float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begin(now)
	if epoch != c.epoch {
		return false, 0, 0
	}
	r := c.rateAt(now)
	next := rateCut * r // too little history to measure successes
	if s, ok := c.successRate(now); ok {
		next = math.Min(r, rateCut*s)
	}
	next = math.Max(c.floor, next)
	c.phase, c.from, c.to = now, next, math.Max(r, next)
	c.epoch++
	c.tokens = math.Min(c.tokens, 1)
	return true, r, next
}

// current returns the allowed rate now.
func (c *rateController) current(now time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rateAt(now)
}

// adaptiveRate is the client's adaptive rate: the controller, and a gate
// that lets one waiter at a time sleep for the next slot, so that waiters
// go in turn instead of all waking for each slot.
type adaptiveRate struct {
	ctrl *rateController
	gate chan struct{}
}

func newAdaptiveRate(initial, max float64) *adaptiveRate {
	return &adaptiveRate{ctrl: newRateController(initial, max), gate: make(chan struct{}, 1)}
}

// wait blocks until the controller grants a slot, and returns the grant's
// epoch. A wait that cannot end before ctx's deadline, even if the rate
// doubled all the while, returns at once with an error matching
// context.DeadlineExceeded; a cancelled ctx returns ctx's error.
func (a *adaptiveRate) wait(ctx context.Context) (uint64, error) {
	select {
	case a.gate <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-a.gate }()
	var timer *time.Timer
	for {
		now := time.Now()
		epoch, wait, ok := a.ctrl.tryAcquire(now)
		if ok {
			return epoch, nil
		}
		if deadline, has := ctx.Deadline(); has && deadline.Sub(now) < wait && !a.ctrl.grantableBy(now, deadline) {
			return 0, fmt.Errorf("waiting for the adaptive rate would pass the deadline: %w", context.DeadlineExceeded)
		}
		wait = min(wait, rateMaxSleep)
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// waitAdaptive waits for the adaptive rate and notes the grant's epoch in
// the call, for learnRate.
func (c *Client) waitAdaptive(ctx context.Context) error {
	epoch, err := c.adaptive.wait(ctx)
	if st := callFrom(ctx); st != nil && err == nil {
		st.rateEpoch, st.rateGranted = epoch, time.Now()
	}
	return err
}

// learnRate tells the adaptive rate, if any, the outcome of an attempt:
// a 2xx counts as a success, a 429 may cut the rate (logged at Debug
// level, with a logger), anything else says nothing about Blueshift's rate
// limit.
func (c *Client) learnRate(ctx context.Context, st *call, resp *http.Response, err error) {
	if c.adaptive == nil || err != nil || resp == nil {
		return
	}
	now := time.Now()
	if !st.rateGranted.IsZero() {
		c.adaptive.ctrl.observe(now.Sub(st.rateGranted))
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		c.adaptive.ctrl.succeeded(now)
	case resp.StatusCode == http.StatusTooManyRequests:
		cut, from, to := c.adaptive.ctrl.throttled(now, st.rateEpoch)
		if cut && c.logger != nil {
			c.logger.LogAttrs(ctx, slog.LevelDebug, "blueshift: adaptive rate cut",
				slog.Float64("from_per_second", math.Round(from*10)/10), slog.Float64("to_per_second", math.Round(to*10)/10))
		}
	}
}

// Rate returns the rate the client now allows, in requests per second:
// with WithAdaptiveRate the adaptive rate at this moment (its initial rate
// before the first call), with WithRateLimit its fixed rate, and 0 when
// the client has no rate limit. A bulk tool can print it as the final rate
// of a run.
func (c *Client) Rate() float64 {
	switch {
	case c.adaptive != nil:
		return c.adaptive.ctrl.current(time.Now())
	case c.limiter != nil:
		return float64(c.limiter.Limit())
	}
	return 0
}
