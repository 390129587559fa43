package blueshifttest

import (
	"math"
	"time"
)

// WithRateLimit makes the fake throttle like Blueshift: requests above a
// token bucket of perSecond requests a second with room for burst (≤ 0:
// a tenth of a second's worth, at least 1), which starts full, are
// answered 429 with Blueshift's body {"message":"Rate limit exceeded"}.
// perSecond ≤ 0 means no limit. SetRateLimit changes the limit while the
// fake runs; RateLimited counts the 429s it sent.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(s *Server) { s.limit = newRateBucket(perSecond, burst, time.Now()) }
}

// SetRateLimit changes the fake's rate limit while it runs, as
// WithRateLimit sets it; perSecond ≤ 0 turns it off. Tokens saved up under
// the old limit are kept, up to the new burst.
func (s *Server) SetRateLimit(perSecond float64, burst int) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.limit
	s.limit = newRateBucket(perSecond, burst, now)
	if old != nil && s.limit != nil {
		old.refill(now)
		s.limit.tokens = math.Min(old.tokens, s.limit.burst)
	}
}

// RateLimited returns how many requests the fake answered 429 because of
// its rate limit (not FailNext or FailRandomly) since it started or was
// last Reset.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// rateBucket is the fake's rate limit: a token bucket that starts full.
type rateBucket struct {
	perSecond, burst, tokens float64
	last                     time.Time
}

// newRateBucket returns a full bucket, or nil for no limit.
func newRateBucket(perSecond float64, burst int, now time.Time) *rateBucket {
	if !(perSecond > 0) || math.IsInf(perSecond, 0) {
		return nil
	}
	b := float64(burst)
	if burst <= 0 {
		b = math.Max(1, math.Floor(perSecond/10))
	}
	return &rateBucket{perSecond: perSecond, burst: b, tokens: b, last: now}
}

func (b *rateBucket) refill(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = math.Min(b.burst, b.tokens+dt.Seconds()*b.perSecond)
		b.last = now
	}
}

// allow takes a token for a request arriving at now, reporting false when
// there is none.
func (b *rateBucket) allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// rateLimitedNow reports whether the request arriving now is over the limit,
// and counts it if so. The caller holds s.mu.
func (s *Server) rateLimitedNow(now time.Time) bool {
	if s.limit == nil || s.limit.allow(now) {
		return false
	}
	s.rateLimited++
	return true
}
