package otelblueshift

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. The duration histogram is the semantic conventions' own.
const (
	DurationMetric  = "http.client.request.duration" // histogram of each attempt, in seconds
	CallsMetric     = "blueshift.client.calls"       // counter of calls by operation and outcome
	RetriesMetric   = "blueshift.client.retries"     // counter of retries by operation and reason
	ThrottledMetric = "blueshift.client.throttled"   // counter of 429 answers by operation
	RateMetric      = "blueshift.client.rate"        // gauge of the adaptive rate, requests a second
)

// durationBuckets are the bucket boundaries the HTTP semantic conventions
// advise for http.client.request.duration.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// metrics are one client's instruments.
type metrics struct {
	duration  metric.Float64Histogram
	calls     metric.Int64Counter
	retries   metric.Int64Counter
	throttled metric.Int64Counter
	rate      atomic.Pointer[rateSeen] // the last adaptive rate seen; nil before any
}

// rateSeen is an adaptive rate and the attributes it is reported with.
type rateSeen struct {
	value float64
	attrs metric.ObserveOption // blueshift.client.id and server.address
}

// newMetrics creates the instruments. An instrument the meter refuses is
// reported to otel.Handle and replaced by a no-op one, as OpenTelemetry's
// own instrumentations do: telemetry never stops the client.
func newMetrics(m metric.Meter) *metrics {
	ms := &metrics{}
	var err error
	ms.duration, err = m.Float64Histogram(DurationMetric, metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	ms.calls, err = m.Int64Counter(CallsMetric, metric.WithUnit("{call}"),
		metric.WithDescription("Calls to Blueshift by operation and outcome."))
	handle(err)
	ms.retries, err = m.Int64Counter(RetriesMetric, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries sent to Blueshift, by the reason for the retry."))
	handle(err)
	ms.throttled, err = m.Int64Counter(ThrottledMetric, metric.WithUnit("{response}"),
		metric.WithDescription("Answers 429 Too Many Requests from Blueshift."))
	handle(err)
	gauge, err := m.Float64ObservableGauge(RateMetric, metric.WithUnit("{request}/s"),
		metric.WithDescription("The rate of requests the client allows, with WithAdaptiveRate."))
	handle(err)
	// A callback given to the instrument would be ignored for every client
	// but the first on a meter: the SDK returns the one instrument again.
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ms.observeRate(o, gauge)
		return nil
	}, gauge)
	handle(err)
	return ms
}

// observeRate reports the adaptive rate once one has been seen, with
// attributes that tell this client's point from another's: every
// WithTelemetry registers its own callback on the one gauge, and points
// with the same attributes would overwrite each other.
func (ms *metrics) observeRate(o metric.Observer, gauge metric.Float64Observable) {
	if r := ms.rate.Load(); r != nil {
		o.ObserveFloat64(gauge, r.value, r.attrs)
	}
}

func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

func metricAttrs(kv ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(kv...))
}
