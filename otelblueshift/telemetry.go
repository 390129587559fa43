package otelblueshift

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/blueshift-go/blueshift"
)

// scope is the instrumentation scope of the tracer and the meter.
const scope = "github.com/blueshift-go/blueshift/otelblueshift"

// Attributes of this package, beyond the semantic conventions'.
const (
	AttemptsKey      = attribute.Key("blueshift.attempts")        // requests a call sent
	RequestIDKey     = attribute.Key("blueshift.request_id")      // Blueshift's X-Request-Id
	OperationKey     = attribute.Key("blueshift.operation")       // StartTracking or StopTracking
	OutcomeKey       = attribute.Key("blueshift.outcome")         // success or failure
	RetryAttemptKey  = attribute.Key("blueshift.retry.attempt")   // the number of the attempt a retry sends
	RetryReasonKey   = attribute.Key("blueshift.retry.reason")    // the error class that caused a retry
	RetryWaitKey     = attribute.Key("blueshift.retry.wait")      // the backoff before a retry, in seconds
	RateLimitWaitKey = attribute.Key("blueshift.rate_limit.wait") // the wait for the rate limit, in seconds
	ClientIDKey      = attribute.Key("blueshift.client.id")       // which client in the process (a sequence number from 1) the rate gauge reports
	outcomeSuccess   = "success"
	outcomeFailure   = "failure"
	retryEventName   = "retry"
)

// WithTelemetry returns a blueshift.Option that traces every call and
// records metrics of every call and attempt with OpenTelemetry, using the
// global tracer and meter providers unless options say otherwise. Give
// each client its own WithTelemetry: the rate gauge reports the rate of
// the client it was given to, under a blueshift.client.id of its own (a
// sequence number, 1 for the process's first WithTelemetry). It can be
// combined with blueshift.WithHooks.
func WithTelemetry(opts ...Option) blueshift.Option {
	c := newConfig(opts)
	t := &telemetry{
		tracer:   c.tracerProvider.Tracer(scope),
		metrics:  newMetrics(c.meterProvider.Meter(scope)),
		clientID: ClientIDKey.Int64(lastClientID.Add(1)),
	}
	return blueshift.WithHooks(blueshift.Hooks{
		CallStart:    t.callStart,
		AttemptStart: t.attemptStart,
		AttemptDone:  t.attemptDone,
		CallDone:     t.callDone,
	})
}

// lastClientID is the blueshift.client.id WithTelemetry gave last.
var lastClientID atomic.Int64

// telemetry turns one client's hook events into spans and metrics.
type telemetry struct {
	tracer trace.Tracer
	*metrics
	clientID  attribute.KeyValue // blueshift.client.id
	mu        sync.RWMutex
	endpoints map[blueshift.CallStartInfo]*endpoint // one per operation
}

// endpoint is what every call of one operation shares: its attributes and
// the options made of them, built once so that a call does not rebuild
// (and allocate) them.
type endpoint struct {
	attrs       []attribute.KeyValue // method, server address and port, url template
	operation   attribute.KeyValue
	spanOptions []trace.SpanStartOption
	okAttempt   metric.MeasurementOption // the duration of a 200
	okCall      metric.MeasurementOption // a call that succeeded
	rate        metric.ObserveOption     // the client id and server address of the rate gauge
}

func newEndpoint(info blueshift.CallStartInfo, clientID attribute.KeyValue) *endpoint {
	e := &endpoint{
		attrs: []attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(info.Method),
			semconv.ServerAddress(info.ServerAddress),
			semconv.ServerPort(info.ServerPort),
			semconv.URLTemplate(info.URLTemplate),
		},
		operation: OperationKey.String(string(info.Operation)),
	}
	e.spanOptions = []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(e.attrs[:len(e.attrs):len(e.attrs)], e.operation)...),
	}
	e.okAttempt = metricAttrs(append(e.attrs[:len(e.attrs):len(e.attrs)], semconv.HTTPResponseStatusCode(200))...)
	e.okCall = metricAttrs(e.operation, OutcomeKey.String(outcomeSuccess))
	e.rate = metric.WithAttributeSet(attribute.NewSet(clientID, semconv.ServerAddress(info.ServerAddress)))
	return e
}

// endpoint returns the shared part of a call described by info.
func (t *telemetry) endpoint(info blueshift.CallStartInfo) *endpoint {
	t.mu.RLock()
	e, ok := t.endpoints[info]
	t.mu.RUnlock()
	if ok {
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.endpoints[info]; ok {
		return e
	}
	if t.endpoints == nil {
		t.endpoints = map[blueshift.CallStartInfo]*endpoint{}
	}
	e = newEndpoint(info, t.clientID)
	t.endpoints[info] = e
	return e
}

// callState is what a call's hooks share, in the call's context.
type callState struct {
	span trace.Span
	*endpoint
}

type callStateKey struct{}

func (t *telemetry) callStart(ctx context.Context, info blueshift.CallStartInfo) context.Context {
	cs := &callState{endpoint: t.endpoint(info)}
	ctx, cs.span = t.tracer.Start(ctx, string(info.Operation), cs.spanOptions...)
	return context.WithValue(ctx, callStateKey{}, cs)
}

func (t *telemetry) attemptStart(ctx context.Context, info blueshift.AttemptStartInfo) {
	cs, ok := ctx.Value(callStateKey{}).(*callState)
	if !ok || info.Attempt < 2 {
		return
	}
	reason := RetryReasonKey.String(info.RetryReason)
	cs.span.AddEvent(retryEventName, trace.WithAttributes(
		RetryAttemptKey.Int(info.Attempt),
		reason,
		RetryWaitKey.Float64(info.RetryWait.Seconds()),
		RateLimitWaitKey.Float64(info.RateWait.Seconds()),
	))
	t.retries.Add(ctx, 1, metricAttrs(cs.operation, reason))
}

func (t *telemetry) attemptDone(ctx context.Context, info blueshift.AttemptDoneInfo) {
	cs, ok := ctx.Value(callStateKey{}).(*callState)
	if !ok {
		return
	}
	if info.StatusCode == 200 {
		t.duration.Record(ctx, info.Duration.Seconds(), cs.okAttempt)
	} else {
		attrs := append(make([]attribute.KeyValue, 0, len(cs.attrs)+2), cs.attrs...)
		if info.StatusCode != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(info.StatusCode))
		}
		if info.ErrorClass != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(info.ErrorClass))
		}
		t.duration.Record(ctx, info.Duration.Seconds(), metricAttrs(attrs...))
	}
	if info.StatusCode == 429 {
		t.throttled.Add(ctx, 1, metricAttrs(cs.operation))
	}
	if info.Rate > 0 {
		t.rate.Store(&rateSeen{value: info.Rate, attrs: cs.rate})
	}
}

func (t *telemetry) callDone(ctx context.Context, info blueshift.CallDoneInfo) {
	cs, ok := ctx.Value(callStateKey{}).(*callState)
	if !ok {
		return
	}
	if info.ErrorClass == "" {
		t.calls.Add(ctx, 1, cs.okCall)
	} else {
		errType := semconv.ErrorTypeKey.String(info.ErrorClass)
		t.calls.Add(ctx, 1, metricAttrs(cs.operation, OutcomeKey.String(outcomeFailure), errType))
	}
	if !cs.span.IsRecording() {
		cs.span.End()
		return
	}
	cs.span.SetAttributes(AttemptsKey.Int(info.Attempts))
	if info.StatusCode != 0 {
		cs.span.SetAttributes(semconv.HTTPResponseStatusCode(info.StatusCode))
	}
	if info.RequestID != "" {
		cs.span.SetAttributes(RequestIDKey.String(info.RequestID))
	}
	if info.ErrorClass != "" {
		cs.span.SetAttributes(semconv.ErrorTypeKey.String(info.ErrorClass))
		cs.span.SetStatus(codes.Error, info.ErrorClass)
	}
	cs.span.End()
}
