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
// no limit and sends no rate-limit headers, so the only signal is a 429,
// and the limit is per account: every client of the account (replicas,
// outbox runs, an operator's bulk run) shares it without knowing of the
// others. Chiu & Jain (1989): clients that cut in proportion to their own
// rate and grow by the same amount converge to fair shares; clients that
// grow in proportion to their rate keep whatever shares they had. So:
//
//   - Start: the allowed rate doubles every second (rateDoubling) from the
//     initial rate, up to the maximum, until the first cut; never again.
//   - Cut (multiplicative decrease): a 429 for a request granted after the
//     last cut cuts the rate to rateCut (0.9) times the client's own
//     successes a second (over the last second, or the last
//     rateNoiseWindow when fewer than rateFewCalls; counting one call
//     more, as a count is uncertain by one), if that is lower than the
//     rate. Never by more than half (rateMaxCut): after a stall of the
//     process, few calls went out and the successes say little. A 429 for
//     a request granted before the last cut says nothing new and is
//     ignored: one cut per congestion episode. In the first rateMinWindow,
//     too soon for the successes to measure a rate, the second 429 cuts to
//     rateCut times the share of the rate the server accepted (successes
//     over answers), if it accepted any (acceptedShare); the first cuts
//     to rateCut times the rate.
//   - Noise: with at least rateNoiseAnswers answers over the last
//     rateNoiseWindow (200 in 3 s), a 429 while 429s are at most rateNoise
//     (1%) of them is taken as noise and ignored: a client at 200/s does
//     not cut for a stray 429. With fewer answers noise and congestion
//     look alike, and every 429 counts.
//   - Growth (additive increase): after a cut the rate grows by
//     rateIncrease (0.25/s) every second, the same for every client, so
//     that a client with a smaller share gains on one with a larger. From
//     a base below 10/s less: 0.1 × base² / rateIncreaseCalls a second,
//     so that climbing back what a cut took lasts rateIncreaseCalls (40)
//     calls and the cycle's one 429 is a small share of them (at 5/s,
//     0.0625/s a second).
//   - Probe: rateQuiet (4 s; at least rateQuietCalls calls' worth, up to
//     rateQuietMax) after a cut, the rate also grows by Q·(t/rateProbe)³,
//     with Q = ∛(max(rate, 5)·5²): slowly at first, faster later, and by
//     less than in proportion to the rate, so that a risen limit is found
//     in seconds but a client that escaped the last cuts does not grab
//     the others' shares.
//   - Slow answers: when the smoothed time from a grant to its answer is
//     long, the start doubles every two round trips, the probe waits at
//     least four and its period is at least five, so that a 429 can come
//     back before the rate has overshot far.
//   - Floor: never below rateFloor (1 per second; the initial rate if that
//     is lower), whatever is answered.
//
// The constants come from the measurements in docs/adaptive-rate.md.
const (
	rateCut    = 0.9
	rateMaxCut = 0.5
	// rateIncrease is the additive increase after a cut, per second per
	// second; rateIncreaseCalls bounds it at low rates (see above).
	rateIncrease      = 0.25
	rateIncreaseCalls = 40
	rateQuiet         = 4 * time.Second
	// rateQuietCalls is the fewest calls, at the rate of the cut, before
	// the probe starts.
	rateQuietCalls = 30
	rateQuietMax   = 6 * time.Second
	rateProbe      = 2 * time.Second
	// rateProbeRef (per second) sets the probe's pace at low rates.
	rateProbeRef = 5.0
	// rateFewCalls is the fewest successes in the last second for which
	// they measure the rate; with fewer, the successes of the last
	// rateNoiseWindow do.
	rateFewCalls = 20
	rateDoubling = time.Second
	rateFloor    = 1.0
	rateNoise    = 0.01
	// rateNoiseWindow is how far back the noise rule counts answers.
	rateNoiseWindow = 3 * time.Second
	// rateNoiseAnswers is the fewest answers in that window for which
	// the rule applies: with fewer, noise and congestion look alike, and
	// every 429 is taken as congestion.
	rateNoiseAnswers = 200
	rateWindow       = time.Second
	// rateSlots is how many slots the answer windows are kept in.
	rateSlots = 10
	// rateMinWindow is the shortest history for which the successes
	// measure a rate; a cut earlier uses the accepted share or the allowed
	// rate alone.
	rateMinWindow = 250 * time.Millisecond
	// rateEarly429s is how many 429s in the first rateMinWindow it takes
	// for the accepted share to say more than chance: one 429 among two
	// answers is also what a client joining a saturated limit meets.
	rateEarly429s = 2
	// rateBurst is how much lateness of a grant (timer and scheduling
	// delays) the pacing may catch up on, as a duration of sends, on top
	// of the one slot that is due. It is kept small: a limiter with a
	// burst of 1 refuses two requests sent closer than its interval.
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
	mu      sync.Mutex
	initial float64
	max     float64
	floor   float64
	started bool
	start   time.Time     // the first grant
	phase   time.Time     // the last cut
	from    float64       // the rate the last cut set
	base    float64       // the measured rate the last cut was made from
	epoch   uint64        // cuts so far; a grant carries the epoch it was made in
	tokens  float64       // pacing: slots that are due
	last    time.Time     // pacing: when tokens were last brought up to date
	ok      answerWindow  // successes over the last second
	longOK  answerWindow  // successes over the last rateNoiseWindow
	limited answerWindow  // 429s over the last rateNoiseWindow
	rtt     time.Duration // smoothed time from a grant to its answer
}

func newRateController(initial, max float64) *rateController {
	return &rateController{initial: initial, max: max, floor: math.Min(rateFloor, initial),
		ok: answerWindow{span: rateWindow}, longOK: answerWindow{span: rateNoiseWindow}, limited: answerWindow{span: rateNoiseWindow}}
}

// begin starts the law's clock at the first request, so a client built
// long before its first call still starts at the initial rate.
func (c *rateController) begin(now time.Time) {
	if c.started {
		return
	}
	c.started, c.start, c.last = true, now, now
	c.ok.slotAt, c.longOK.slotAt, c.limited.slotAt = now, now, now
	c.tokens = 1
}

// rateAt is the allowed rate at now under the law, in requests per second.
func (c *rateController) rateAt(now time.Time) float64 {
	if !c.started {
		return c.initial
	}
	var r float64
	if c.epoch == 0 { // the start: doubling until the first cut
		d := max(now.Sub(c.start), 0)
		r = c.initial * math.Exp2(float64(d)/float64(c.doubling()))
	} else {
		d := max(now.Sub(c.phase), 0) // callers read the clock before the lock: a little out of order
		r = c.from + c.increase()*d.Seconds()
		if quiet := c.quiet(); d > quiet {
			x := float64(d-quiet) / float64(c.probing())
			r += math.Cbrt(math.Max(c.from, rateProbeRef)*rateProbeRef*rateProbeRef) * x * x * x
		}
	}
	return math.Max(c.floor, math.Min(r, c.max))
}

// doubling is how long the rate takes to double at the start:
// rateDoubling, or two round trips when answers are slower than half of
// that, so that a 429 can come back before the rate has overshot much.
func (c *rateController) doubling() time.Duration {
	return max(rateDoubling, 2*c.rtt)
}

// increase is the additive increase after a cut, per second per second:
// rateIncrease, or less at low rates, so that climbing back the 10% a cut
// took lasts rateIncreaseCalls calls.
func (c *rateController) increase() float64 {
	return math.Min(rateIncrease, (1-rateCut)*c.base*c.base/rateIncreaseCalls)
}

// quiet is how long after a cut the probe starts: rateQuiet, or
// rateQuietCalls calls at the rate the cut was made from (up to
// rateQuietMax), or four round trips, whichever is longest.
func (c *rateController) quiet() time.Duration {
	calls := time.Duration(float64(rateQuietCalls) / math.Max(c.base, c.floor) * float64(time.Second))
	return max(rateQuiet, 4*c.rtt, min(calls, rateQuietMax))
}

// probing is the period of the probe past the return: rateProbe, or five
// round trips when answers are slower.
func (c *rateController) probing() time.Duration {
	return max(rateProbe, 5*c.rtt)
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
		c.tokens = math.Min(c.tokens+dt.Seconds()*r, 1+r*rateBurst.Seconds())
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
// whether the slots due by then, if the rate doubled every rateDoubling
// all the way from now (it grows no faster) but stayed under the maximum,
// reach one.
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
	c.ok.add(now)
	c.longOK.add(now)
}

// answerWindow counts answers of one kind over the last span in
// rateSlots slots; slots[0] is the newest.
type answerWindow struct {
	span   time.Duration
	slots  [rateSlots + 1]int
	slotAt time.Time // start of the newest slot
}

func (w *answerWindow) add(now time.Time) {
	w.advance(now)
	w.slots[0]++
}

// advance moves the window to now.
func (w *answerWindow) advance(now time.Time) {
	slot := w.span / rateSlots
	n := int(now.Sub(w.slotAt) / slot)
	if n <= 0 {
		return
	}
	n = min(n, len(w.slots))
	copy(w.slots[n:], w.slots[:len(w.slots)-n])
	clear(w.slots[:n])
	w.slotAt = w.slotAt.Add(now.Sub(w.slotAt).Truncate(slot))
}

// rate is the answers per second over the last span, or over history if
// that is shorter. The oldest slot, partly outside the span, counts in
// proportion.
func (w *answerWindow) rate(now time.Time, history time.Duration) float64 {
	w.advance(now)
	slot := w.span / rateSlots
	total := 0.0
	for _, n := range w.slots[:rateSlots] {
		total += float64(n)
	}
	if history < w.span {
		return (total + float64(w.slots[rateSlots])) / history.Seconds()
	}
	inside := 1 - float64(now.Sub(w.slotAt))/float64(slot)
	return (total + inside*float64(w.slots[rateSlots])) / w.span.Seconds()
}

// successRate is the rate of successful calls over the last second (over
// the history there is, if shorter), and whether there is enough history
// (rateMinWindow) to measure it.
func (c *rateController) successRate(now time.Time) (float64, bool) {
	history := now.Sub(c.start)
	if history < rateMinWindow {
		c.ok.advance(now)
		return 0, false
	}
	s, span := c.ok.rate(now, history), min(history, rateWindow)
	if s*span.Seconds() < rateFewCalls {
		// Few calls: a longer window counts them more precisely.
		s, span = c.longOK.rate(now, history), min(history, rateNoiseWindow)
	}
	return s + 1/span.Seconds(), true // the count is uncertain by one call
}

// acceptedShare is, in the first rateMinWindow (too short a history for
// the successes to measure a rate), the share of r that the server
// accepted: r times the successes over the answers so far, once
// rateEarly429s 429s have come. A client that starts above a low limit
// (10/s against a limit of 5 with a burst of 1) is then cut to it at its
// second 429 instead of stepping down one 429 at a time. After a single
// 429 (one of a client's first two answers is also what a client joining
// a saturated limit meets, and halving it leaves it far below a fair
// share) or without a success yet it says nothing (ok false), and the cut
// is to rateCut × r.
func (c *rateController) acceptedShare(now time.Time, r float64) (float64, bool) {
	history := now.Sub(c.start)
	if history >= rateMinWindow {
		return 0, false
	}
	history = max(history, time.Millisecond)
	ok, limited := c.longOK.rate(now, history), c.limited.rate(now, history)
	if ok == 0 || limited*history.Seconds() < rateEarly429s-0.5 {
		return 0, false
	}
	return r * ok / (ok + limited), true
}

// congested reports whether the 429s of the last rateNoiseWindow are more
// than rateNoise of its answers (always, with too little history to
// tell).
func (c *rateController) congested(now time.Time) bool {
	history := now.Sub(c.start)
	if history < rateMinWindow {
		return true
	}
	limited := c.limited.rate(now, history)
	answers := limited + c.longOK.rate(now, history)
	if answers*min(history, rateNoiseWindow).Seconds() < rateNoiseAnswers {
		return true
	}
	return limited > rateNoise*answers
}

// throttled reports a 429 for a request granted in epoch. It cuts the rate
// unless the rate was already cut after that request was granted or the
// 429 looks like noise, and returns whether it cut, from what rate to
// what.
func (c *rateController) throttled(now time.Time, epoch uint64) (cut bool, from, to float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begin(now)
	c.limited.add(now)
	if epoch != c.epoch || !c.congested(now) {
		return false, 0, 0
	}
	r := c.rateAt(now)
	base, next := r, rateCut*r // too little history to measure successes
	if s, ok := c.acceptedShare(now, r); ok {
		base, next = s, rateCut*s
	}
	if s, ok := c.successRate(now); ok {
		// The successes measure the limit (the client's share of it);
		// the cut is to 0.9 of one more call a second than that, as a
		// second's count is uncertain by one. Not below that: a new
		// episode right after a cut, while the last second still says
		// the same, does not cascade.
		base, next = math.Min(r, s), math.Min(r, rateCut*s)
	}
	// At most half of the rate per cut: after the process stalled (a
	// loaded machine, a GC pause) the last second's successes are few
	// because little was sent, not because the limit is low, and the
	// requests that were held back arrive together and meet 429s.
	base, next = math.Max(base, r*rateMaxCut), max(c.floor, next, r*rateMaxCut)
	c.phase, c.from, c.base = now, next, base
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
