package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName is the instrumentation scope of the outbox's metrics.
const meterName = "github.com/blueshift-go/blueshift/outbox"

// The values of the attribute blueshift.outbox.outcome on the counter
// blueshift.outbox.deliveries.
const (
	outcomeDelivered = "delivered"
	outcomeRetried   = "retried"
	outcomeDead      = "dead"
	outcomeReleased  = "released"
)

// WithMeterProvider makes the Outbox report OpenTelemetry metrics through
// mp (for instance otel.GetMeterProvider()); without it the Outbox reports
// none. It registers:
//
//   - blueshift.outbox.pending, blueshift.outbox.settling and
//     blueshift.outbox.dead ({customer}), observable gauges of the
//     fields of Stats, and blueshift.outbox.oldest_pending.age (s), the
//     age of the oldest undelivered change: read by one call to Stats at
//     each collection, which costs a few milliseconds on any table size;
//   - blueshift.outbox.deliveries ({delivery}), a counter of the
//     deliveries this Outbox ended, by blueshift.outbox.outcome:
//     "delivered", "retried" (a transient failure: backing off), "dead"
//     (refused for good) or "released" (given back without a verdict: Run
//     ended, delivery paused, or the call sent no request);
//   - blueshift.outbox.delivery.delay (s), a histogram of the time from
//     the recording of a customer's oldest undelivered change to its
//     delivery.
//
// For a dead customer made pending again (Retry, RetryAll, a new change),
// the oldest pending age and the delivery delay count from that moment,
// not from the first recording (see Stats.OldestPending).
//
// No attribute holds a customer identifier. Close unregisters the gauges.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *settings) error {
		if mp == nil {
			return errors.New("outbox: nil MeterProvider")
		}
		s.meterProvider = mp
		return nil
	}
}

// delayBuckets are the delivery delay histogram's boundaries, in seconds:
// from a prompt delivery to the default maximum age of a week.
var delayBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400, 604800}

// metrics are an Outbox's instruments; a nil *metrics records nothing.
type metrics struct {
	deliveries metric.Int64Counter
	delay      metric.Float64Histogram
	reg        metric.Registration
	outcomes   map[string]metric.AddOption
}

// newMetrics creates the instruments on mp, or returns nil without mp.
func newMetrics(o *Outbox, mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		return nil, nil
	}
	meter := mp.Meter(meterName)
	m := &metrics{outcomes: map[string]metric.AddOption{}}
	for _, v := range []string{outcomeDelivered, outcomeRetried, outcomeDead, outcomeReleased} {
		m.outcomes[v] = metric.WithAttributeSet(attribute.NewSet(attribute.String("blueshift.outbox.outcome", v)))
	}
	var err error
	fail := func(e error) {
		if err == nil && e != nil {
			err = fmt.Errorf("outbox: metrics: %w", e)
		}
	}
	var e error
	m.deliveries, e = meter.Int64Counter("blueshift.outbox.deliveries", metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries the outbox ended, by outcome."))
	fail(e)
	m.delay, e = meter.Float64Histogram("blueshift.outbox.delivery.delay", metric.WithUnit("s"),
		metric.WithDescription("Time from the recording of a customer's oldest undelivered change to its delivery."),
		metric.WithExplicitBucketBoundaries(delayBuckets...))
	fail(e)
	gauge := func(name, desc string) metric.Int64ObservableGauge {
		g, e := meter.Int64ObservableGauge(name, metric.WithUnit("{customer}"), metric.WithDescription(desc))
		fail(e)
		return g
	}
	pending := gauge("blueshift.outbox.pending", "Customers whose latest change is neither delivered nor dead.")
	settling := gauge("blueshift.outbox.settling", "Customers whose latest state will be sent once more after the late-apply window.")
	dead := gauge("blueshift.outbox.dead", "Customers whose delivery gave up.")
	age, e := meter.Float64ObservableGauge("blueshift.outbox.oldest_pending.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest undelivered change of a pending customer; 0 when none is pending."))
	fail(e)
	if err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		st, err := o.Stats(ctx)
		if err != nil {
			return err
		}
		obs.ObserveInt64(pending, int64(st.Pending))
		obs.ObserveInt64(settling, int64(st.Settling))
		obs.ObserveInt64(dead, int64(st.Dead))
		obs.ObserveFloat64(age, st.OldestPending.Seconds())
		return nil
	}, pending, settling, dead, age)
	if err != nil {
		return nil, fmt.Errorf("outbox: metrics: %w", err)
	}
	return m, nil
}

// count adds one delivery with the outcome.
func (m *metrics) count(ctx context.Context, outcome string) {
	if m != nil {
		m.deliveries.Add(ctx, 1, m.outcomes[outcome])
	}
}

// close unregisters the gauges' callback.
func (m *metrics) close() {
	if m != nil {
		_ = m.reg.Unregister()
	}
}

// countDelivered counts a completed delivery of e, and its delay: from
// the recording of its oldest undelivered change (database clock, as of
// the claim) to now.
func (o *Outbox) countDelivered(ctx context.Context, e claimed) {
	o.delivered.Add(1)
	if o.m == nil {
		return
	}
	o.m.count(ctx, outcomeDelivered)
	delay := time.Duration(max(e.claimedAt-e.pendingAt, 0))*time.Millisecond + time.Since(e.callStart)
	o.m.delay.Record(ctx, delay.Seconds())
}
