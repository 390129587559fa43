package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Option configures an Outbox: pass options made by the With… functions to
// Open. Each option checks its input; Open returns the first error.
type Option func(*settings) error

// settings collects what the options chose.
type settings struct {
	backoffMin, backoffMax time.Duration
	maxAge                 time.Duration
	lease                  time.Duration
	concurrency            int
	logger                 *slog.Logger
	clientTimeout          time.Duration
	pollInterval           time.Duration
	lateApplyWindow        time.Duration
	meterProvider          metric.MeterProvider
}

// Defaults, documented on the options that change them.
const (
	defaultBackoffMin    = time.Second
	defaultBackoffMax    = time.Hour
	defaultMaxAge        = 7 * 24 * time.Hour
	defaultLease         = 2 * time.Minute
	defaultConcurrency   = 4
	defaultClientTimeout = 30 * time.Second // blueshift.WithTimeout's default
	defaultPollInterval  = time.Second
	defaultLateApply     = 10 * time.Minute
	maxLateApply         = 24 * time.Hour
	// maxPauseProbe bounds the wait before probing a paused delivery.
	maxPauseProbe = time.Minute
)

func defaultSettings() settings {
	return settings{
		backoffMin: defaultBackoffMin, backoffMax: defaultBackoffMax,
		maxAge: defaultMaxAge, lease: defaultLease, concurrency: defaultConcurrency,
		logger:        slog.New(slog.DiscardHandler),
		clientTimeout: defaultClientTimeout, pollInterval: defaultPollInterval,
		lateApplyWindow: defaultLateApply,
	}
}

// WithBackoff sets the range of the wait before retrying a customer whose
// delivery failed transiently (default 1 s to 1 h): the wait doubles from
// min with each failed attempt, up to max, with jitter. max also bounds the
// wait before probing delivery paused by a configuration problem (at most
// one minute).
func WithBackoff(min, max time.Duration) Option {
	return func(s *settings) error {
		if min <= 0 || max < min {
			return fmt.Errorf("outbox: backoff needs 0 < min <= max, got min %v, max %v", min, max)
		}
		s.backoffMin, s.backoffMax = min, max
		return nil
	}
}

// WithMaxAge sets how long the outbox keeps retrying a customer, counted
// from when its oldest undelivered change was recorded (default 7 days);
// after that, the next failure makes the entry dead (see Outbox.Dead).
func WithMaxAge(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("outbox: max age must be positive, got %v", d)
		}
		s.maxAge = d
		return nil
	}
}

// WithLease sets how long a claimed customer stays reserved for the
// worker delivering it (default 2 min). Each call gets half the lease as
// its deadline, counted from just before the claim, so it ends well before
// another worker may take the customer over; a crashed worker's customers
// are taken over when their lease expires. A lease that fails anyway (a
// stalled worker, a clock jump) cannot make an older state land last: see
// WithLateApplyWindow. Open refuses (ErrLeaseTooShort) a lease under 1 s or
// shorter than twice the client's per-attempt timeout (see
// WithClientTimeout).
func WithLease(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("outbox: lease must be positive, got %v", d)
		}
		s.lease = d
		return nil
	}
}

// WithConcurrency sets how many deliveries one Run makes at once
// (default 4, at most 1024). Run also keeps no more in flight than the
// client's rate (blueshift.Client.Rate) serves within half a call's
// deadline, so that calls seldom end without sending a request.
func WithConcurrency(n int) Option {
	return func(s *settings) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("outbox: concurrency must be 1..1024, got %d", n)
		}
		s.concurrency = n
		return nil
	}
}

// WithLogger makes the outbox log deliveries' failures, pauses and
// resumptions. It never logs an API key or a customer identifier. Without
// it the outbox logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("outbox: WithLogger needs a non-nil *slog.Logger (omit the option to log nothing)")
		}
		s.logger = l
		return nil
	}
}

// WithClientTimeout tells the outbox the per-attempt timeout the client
// was built with (blueshift.WithTimeout; default 30 s, the client's own
// default). A Client does not expose it, and the outbox needs it to check
// that a call's deadline (half the lease) leaves room for at least one
// whole attempt: Open refuses a lease shorter than twice this timeout.
func WithClientTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("outbox: client timeout must be positive, got %v", d)
		}
		s.clientTimeout = d
		return nil
	}
}

// WithPollInterval sets how often an idle Run looks for work recorded by
// other processes or transactions (default 1 s). Changes recorded through
// this Outbox's StartTracking and StopTracking wake it at once.
func WithPollInterval(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("outbox: poll interval must be positive, got %v", d)
		}
		s.pollInterval = d
		return nil
	}
}

// WithLateApplyWindow sets how long Blueshift may still apply a request
// after the client stopped waiting for it (default 10 minutes, at most
// 24 h): a backend or load balancer that has read a request may apply it
// after the call timed out. When a customer's latest state is delivered
// and an uncertain attempt of the other state (one that got no answer, or
// a 5xx) was made for that customer less than d before, the latest state
// is sent once more when d has passed since that attempt; until then the
// customer counts in Stats.Settling and its row keeps its identifiers.
func WithLateApplyWindow(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 || d > maxLateApply {
			return fmt.Errorf("outbox: late-apply window must be in (0, %v], got %v", maxLateApply, d)
		}
		s.lateApplyWindow = d
		return nil
	}
}

// callTimeout is each delivery call's deadline: half the lease.
func (s *settings) callTimeout() time.Duration { return s.lease / 2 }

// minLease is the shortest lease Open accepts: leases are stored in whole
// milliseconds, and a shorter one leaves no room for a claim and a call.
const minLease = time.Second

// check validates the options together.
func (s *settings) check() error {
	if s.lease < minLease {
		return fmt.Errorf("%w: lease %v is under the minimum %v", ErrLeaseTooShort, s.lease, minLease)
	}
	if s.lease < 2*s.clientTimeout {
		return fmt.Errorf("%w: lease %v must be at least twice the client's per-attempt timeout %v (see WithClientTimeout)",
			ErrLeaseTooShort, s.lease, s.clientTimeout)
	}
	return nil
}

// probeDelay is how long delivery stays paused before a probe.
func (s *settings) probeDelay() time.Duration { return min(s.backoffMax, maxPauseProbe) }
