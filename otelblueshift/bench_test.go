package otelblueshift_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/otelblueshift"
)

// memoryTransport answers every request itself, with no network, so that
// what is measured is the client and its telemetry alone.
type memoryTransport struct{}

func (memoryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, req.Body)
	req.Body.Close()
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"bench-request"}},
		Body:    io.NopCloser(strings.NewReader(`{"status":"ok"}`)),
		Request: req, ContentLength: 15,
	}, nil
}

// BenchmarkTelemetry measures what WithTelemetry adds to a call, side by
// side: telemetry=none is the bare client, telemetry=noop uses the
// global providers left unset (OpenTelemetry's no-ops), telemetry=sdk
// records into the SDK (an in-memory span recorder and a manual reader).
//
//	go test -run '^$' -bench BenchmarkTelemetry -benchmem ./otelblueshift
func BenchmarkTelemetry(b *testing.B) {
	sdk := otelblueshift.WithTelemetry(
		otelblueshift.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))),
		otelblueshift.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))))
	for _, tc := range []struct {
		name string
		opts []blueshift.Option
	}{{"none", nil}, {"noop", []blueshift.Option{otelblueshift.WithTelemetry()}}, {"sdk", []blueshift.Option{sdk}}} {
		opts := append([]blueshift.Option{blueshift.WithBaseURL("https://api.getblueshift.com"),
			blueshift.WithHTTPClient(&http.Client{Transport: memoryTransport{}})}, tc.opts...)
		client, err := blueshift.NewClient("bench-key-0123456789", opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("net=memory/telemetry="+tc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for range b.N {
				if _, err := client.StartTracking(ctx, customer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
