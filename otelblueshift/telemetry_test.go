package otelblueshift_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/otelblueshift"
)

const testKey = "otel-test-key-0123"

var customer = blueshift.Customer{Email: "secret.ann@example.com", CustomerID: "CUST-SECRET-42", DeviceID: "dev-secret-7"}

// secrets are what no span, event, status or metric may ever hold.
var secrets = []string{testKey, base64.StdEncoding.EncodeToString([]byte(testKey + ":")), customer.Email, customer.CustomerID, customer.DeviceID}

// rig is a client instrumented with in-memory providers, against a
// loopback server that answers with the handlers in turn (repeating the
// last one).
type rig struct {
	client *blueshift.Client
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	port   string
}

func newRig(t *testing.T, opts []blueshift.Option, handlers ...http.HandlerFunc) *rig {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(n, len(handlers)-1)]
		n++
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	u, _ := url.Parse(srv.URL)
	r.port = u.Port()
	base := []blueshift.Option{
		blueshift.WithBaseURL(srv.URL),
		blueshift.WithRetryWait(time.Millisecond, 5*time.Millisecond),
		blueshift.WithRetryMax(2),
		blueshift.WithRetryBudget(0),
		otelblueshift.WithTelemetry(otelblueshift.WithTracerProvider(r.tp), otelblueshift.WithMeterProvider(mp)),
	}
	client, err := blueshift.NewClient(testKey, append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)
	r.client = client
	return r
}

// answer returns a handler that answers status with a request id that
// echoes the Authorization header and an identifier, as a hostile or
// buggy server might: none of it may reach the telemetry.
func answer(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d %s %s", status, r.Header.Get("Authorization"), customer.Email))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"status":"ok","message":"`+customer.Email+`"}`)
	}
}

func dropConnection(w http.ResponseWriter, _ *http.Request) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

func hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

// attrs returns a span's or data point's attributes as text.
func attrs(kvs []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// points returns a metric's data points as "attr=value,…" → value (the
// count, for a histogram), and every attribute text seen.
func points(t *testing.T, r *rig, name string) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[encode(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[encode(p.Attributes)] = float64(p.Count)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[encode(p.Attributes)] = p.Value
				}
			}
		}
	}
	return out
}

func encode(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }

func TestTelemetryPerOutcome(t *testing.T) {
	const endpoint = "http.request.method=POST,server.address=127.0.0.1,server.port=%s,url.template=/api/v1/customers/unforget"
	for _, tc := range []struct {
		name      string
		handlers  []http.HandlerFunc
		opts      []blueshift.Option
		cancelIn  time.Duration
		status    int    // the span's http.response.status_code; 0: none
		errType   string // the span's error.type; "": success
		attempts  int
		reasons   []string           // the retry events' reasons
		durations map[string]float64 // attempt outcomes (status/error.type suffix) → count
		throttled float64
	}{
		{name: "success", handlers: []http.HandlerFunc{answer(200)}, status: 200, attempts: 1,
			durations: map[string]float64{",http.response.status_code=200": 1}},
		{name: "retry then success", handlers: []http.HandlerFunc{answer(503), answer(200)}, status: 200, attempts: 2,
			reasons: []string{"503"},
			durations: map[string]float64{
				",http.response.status_code=200":                1,
				",error.type=503,http.response.status_code=503": 1}},
		{name: "429 then success", handlers: []http.HandlerFunc{answer(429), answer(200)}, status: 200, attempts: 2,
			reasons: []string{"429"}, throttled: 1,
			durations: map[string]float64{
				",http.response.status_code=200":                1,
				",error.type=429,http.response.status_code=429": 1}},
		{name: "final 4xx", handlers: []http.HandlerFunc{answer(400)}, status: 400, errType: "400", attempts: 1,
			durations: map[string]float64{",error.type=400,http.response.status_code=400": 1}},
		{name: "exhausted 5xx", handlers: []http.HandlerFunc{answer(502)}, status: 502, errType: "502", attempts: 3,
			reasons:   []string{"502", "502"},
			durations: map[string]float64{",error.type=502,http.response.status_code=502": 3}},
		{name: "network error", handlers: []http.HandlerFunc{dropConnection}, errType: "network", attempts: 3,
			reasons:   []string{"network", "network"},
			durations: map[string]float64{",error.type=network": 3}},
		{name: "attempt timeout", handlers: []http.HandlerFunc{hang}, errType: "attempt_timeout", attempts: 1,
			opts:      []blueshift.Option{blueshift.WithRetryMax(0), blueshift.WithTimeout(30 * time.Millisecond)},
			durations: map[string]float64{",error.type=attempt_timeout": 1}},
		{name: "cancellation", handlers: []http.HandlerFunc{hang}, cancelIn: 30 * time.Millisecond, errType: "canceled", attempts: 1,
			durations: map[string]float64{",error.type=canceled": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts, tc.handlers...)
			ctx, parent := r.tp.Tracer("test").Start(context.Background(), "parent")
			if tc.cancelIn > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tc.cancelIn, cancel)
			}
			_, err := r.client.StartTracking(ctx, customer)
			parent.End()
			assert.Equal(t, tc.errType != "", err != nil, "error: %v", err)

			spans := r.spans.Ended()
			require.Len(t, spans, 2, "the call's span and its parent")
			span := spans[0]
			assert.Equal(t, "StartTracking", span.Name())
			assert.Equal(t, trace.SpanKindClient, span.SpanKind())
			assert.Equal(t, parent.SpanContext().SpanID(), span.Parent().SpanID(), "a child of the caller's span")

			want := map[string]string{
				"http.request.method": "POST", "server.address": "127.0.0.1", "server.port": r.port,
				"url.template": "/api/v1/customers/unforget", "blueshift.operation": "StartTracking",
				"blueshift.attempts": fmt.Sprint(tc.attempts),
			}
			if tc.status != 0 {
				want["http.response.status_code"] = fmt.Sprint(tc.status)
				want["blueshift.request_id"] = fmt.Sprintf("req-%d Basic [redacted] [redacted]", tc.status)
			}
			wantStatus := sdktrace.Status{Code: codes.Unset}
			if tc.errType != "" {
				want["error.type"] = tc.errType
				wantStatus = sdktrace.Status{Code: codes.Error, Description: tc.errType}
			}
			assert.Equal(t, want, attrs(span.Attributes()))
			assert.Equal(t, wantStatus, span.Status())

			var reasons []string
			for i, ev := range span.Events() {
				assert.Equal(t, "retry", ev.Name)
				a := attrs(ev.Attributes)
				reasons = append(reasons, a["blueshift.retry.reason"])
				assert.Equal(t, fmt.Sprint(i+2), a["blueshift.retry.attempt"])
				assert.NotEqual(t, "0", a["blueshift.retry.wait"], "the backoff is at least 1 ms")
				assert.Contains(t, a, "blueshift.rate_limit.wait")
			}
			assert.Equal(t, tc.reasons, reasons)

			prefix := fmt.Sprintf(endpoint, r.port)
			wantDurations := map[string]float64{}
			for k, v := range tc.durations {
				// error.type sorts before http.*: rebuild the encoded order.
				wantDurations[encodeSorted(prefix+k)] = v
			}
			assert.Equal(t, wantDurations, points(t, r, otelblueshift.DurationMetric))

			call := "blueshift.operation=StartTracking,blueshift.outcome=success"
			if tc.errType != "" {
				call = "blueshift.operation=StartTracking,blueshift.outcome=failure,error.type=" + tc.errType
			}
			assert.Equal(t, map[string]float64{call: 1}, points(t, r, otelblueshift.CallsMetric))

			wantRetries := map[string]float64{}
			for _, reason := range tc.reasons {
				wantRetries["blueshift.operation=StartTracking,blueshift.retry.reason="+reason]++
			}
			assert.Equal(t, wantRetries, points(t, r, otelblueshift.RetriesMetric))
			wantThrottled := map[string]float64{}
			if tc.throttled > 0 {
				wantThrottled["blueshift.operation=StartTracking"] = tc.throttled
			}
			assert.Equal(t, wantThrottled, points(t, r, otelblueshift.ThrottledMetric))
			assert.Empty(t, points(t, r, otelblueshift.RateMetric), "no gauge without WithAdaptiveRate")

			assertNoSecrets(t, r)
		})
	}
}

// encodeSorted sorts the comma-separated k=v pairs of s, as
// attribute.DefaultEncoder orders them.
func encodeSorted(s string) string {
	parts := strings.Split(s, ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// assertNoSecrets checks every string the providers recorded: span names,
// attributes, events, status, metric names and attributes.
func assertNoSecrets(t *testing.T, r *rig) {
	t.Helper()
	var texts []string
	for _, s := range r.spans.Ended() {
		texts = append(texts, s.Name(), s.Status().Description)
		for k, v := range attrs(s.Attributes()) {
			texts = append(texts, k, v)
		}
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			for k, v := range attrs(ev.Attributes) {
				texts = append(texts, k, v)
			}
		}
	}
	for _, name := range []string{otelblueshift.DurationMetric, otelblueshift.CallsMetric, otelblueshift.RetriesMetric,
		otelblueshift.ThrottledMetric, otelblueshift.RateMetric} {
		for attrs := range points(t, r, name) {
			texts = append(texts, name, attrs)
		}
	}
	all := strings.Join(texts, "\n")
	require.Contains(t, all, "blueshift.operation=", "the metrics' attributes were read")
	require.Contains(t, all, "url.template\n/api/v1/customers/", "the spans' attributes were read")
	for _, secret := range secrets {
		assert.NotContains(t, all, secret)
	}
}

func TestTelemetryStopTrackingAndAdaptiveRate(t *testing.T) {
	r := newRig(t, []blueshift.Option{blueshift.WithAdaptiveRate(5, 100)}, answer(200))
	_, err := r.client.StopTracking(context.Background(), customer)
	require.NoError(t, err)
	spans := r.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, "StopTracking", spans[0].Name())
	assert.Equal(t, "/api/v1/customers/forget", attrs(spans[0].Attributes())["url.template"])
	assert.True(t, spans[0].Parent().SpanID() == trace.SpanID{}, "a root span without a caller's span")

	rate := points(t, r, otelblueshift.RateMetric)
	require.Len(t, rate, 1)
	for attrs, value := range rate {
		assert.Regexp(t, `^blueshift\.client\.id=\d+,server\.address=127\.0\.0\.1$`, attrs)
		assert.GreaterOrEqual(t, value, 5.0, "at least the initial rate")
		assert.LessOrEqual(t, value, 100.0)
	}
	assertNoSecrets(t, r)
}

func TestTelemetryCombinesWithOtherHooksAndOperations(t *testing.T) {
	var done []blueshift.CallDoneInfo
	mine := blueshift.WithHooks(blueshift.Hooks{CallDone: func(_ context.Context, info blueshift.CallDoneInfo) {
		done = append(done, info)
	}})
	r := newRig(t, []blueshift.Option{mine}, answer(200))
	for range 2 { // both operations, twice, on one client: each keeps its own attributes
		_, err := r.client.StartTracking(context.Background(), customer)
		require.NoError(t, err)
		_, err = r.client.StopTracking(context.Background(), customer)
		require.NoError(t, err)
	}
	var got []string
	for _, s := range r.spans.Ended() {
		got = append(got, s.Name()+" "+attrs(s.Attributes())["url.template"])
	}
	start, stop := "StartTracking /api/v1/customers/unforget", "StopTracking /api/v1/customers/forget"
	assert.Equal(t, []string{start, stop, start, stop}, got)
	require.Len(t, done, 4)
	assert.Equal(t, 200, done[0].StatusCode)
}
