package otelblueshift

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
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
	outcomeSuccess   = "success"
	outcomeFailure   = "failure"
	retryEventName   = "retry"
)

// WithTelemetry returns a blueshift.Option that traces every call and
// records metrics of every call and attempt with OpenTelemetry, using the
// global tracer and meter providers unless options say otherwise. Give
// each client its own WithTelemetry: the rate gauge reports the rate of
// the client it was given to. It can be combined with blueshift.WithHooks.
func WithTelemetry(opts ...Option) blueshift.Option {
	c := newConfig(opts)
	t := &telemetry{
		tracer:  c.tracerProvider.Tracer(scope),
		metrics: newMetrics(c.meterProvider.Meter(scope)),
	}
	return blueshift.WithHooks(blueshift.Hooks{
		CallStart:    t.callStart,
		AttemptStart: t.attemptStart,
		AttemptDone:  t.attemptDone,
		CallDone:     t.callDone,
	})
}

// telemetry turns one client's hook events into spans and metrics.
type telemetry struct {
	tracer trace.Tracer
	*metrics
}

// callState is what a call's hooks share, in the call's context.
type callState struct {
	span      trace.Span
	endpoint  []attribute.KeyValue // method, server address and port, url template
	operation attribute.KeyValue
}

type callStateKey struct{}

func (t *telemetry) callStart(ctx context.Context, info blueshift.CallStartInfo) context.Context {
	cs := &callState{
		endpoint: []attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(info.Method),
			semconv.ServerAddress(info.ServerAddress),
			semconv.ServerPort(info.ServerPort),
			semconv.URLTemplate(info.URLTemplate),
		},
		operation: OperationKey.String(string(info.Operation)),
	}
	ctx, cs.span = t.tracer.Start(ctx, string(info.Operation),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(cs.endpoint...),
		trace.WithAttributes(cs.operation))
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
	attrs := append(make([]attribute.KeyValue, 0, len(cs.endpoint)+2), cs.endpoint...)
	if info.StatusCode != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(info.StatusCode))
	}
	if info.ErrorClass != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(info.ErrorClass))
	}
	t.duration.Record(ctx, info.Duration.Seconds(), metricAttrs(attrs...))
	if info.StatusCode == 429 {
		t.throttled.Add(ctx, 1, metricAttrs(cs.operation))
	}
	if info.Rate > 0 {
		t.rate.Store(&info.Rate)
	}
}

func (t *telemetry) callDone(ctx context.Context, info blueshift.CallDoneInfo) {
	cs, ok := ctx.Value(callStateKey{}).(*callState)
	if !ok {
		return
	}
	cs.span.SetAttributes(AttemptsKey.Int(info.Attempts))
	if info.StatusCode != 0 {
		cs.span.SetAttributes(semconv.HTTPResponseStatusCode(info.StatusCode))
	}
	if info.RequestID != "" {
		cs.span.SetAttributes(RequestIDKey.String(info.RequestID))
	}
	outcome := OutcomeKey.String(outcomeSuccess)
	if info.ErrorClass != "" {
		errType := semconv.ErrorTypeKey.String(info.ErrorClass)
		cs.span.SetAttributes(errType)
		cs.span.SetStatus(codes.Error, info.ErrorClass)
		outcome = OutcomeKey.String(outcomeFailure)
		t.calls.Add(ctx, 1, metricAttrs(cs.operation, outcome, errType))
	} else {
		t.calls.Add(ctx, 1, metricAttrs(cs.operation, outcome))
	}
	cs.span.End()
}
