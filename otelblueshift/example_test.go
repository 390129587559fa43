package otelblueshift_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/otelblueshift"
)

// ExampleWithTelemetry wires traces and metrics to the stdout exporters.
// A real program writes to os.Stdout (or uses an OTLP exporter and a
// batching span processor); this one writes to buffers and prints what
// they hold, so that it can check its output.
func ExampleWithTelemetry() {
	var traces, metrics bytes.Buffer
	traceExporter, err := stdouttrace.New(stdouttrace.WithWriter(&traces))
	if err != nil {
		panic(err)
	}
	metricExporter, err := stdoutmetric.New(stdoutmetric.WithWriter(&metrics))
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(traceExporter))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExporter)))
	otel.SetTracerProvider(tp) // WithTelemetry uses the global providers by default
	otel.SetMeterProvider(mp)

	fake := blueshifttest.NewServer() // Blueshift, in a test
	defer fake.Close()
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
		blueshift.WithRetryWait(time.Millisecond, 10*time.Millisecond),
		otelblueshift.WithTelemetry())
	if err != nil {
		panic(err)
	}

	fake.FailNext(1, http.StatusServiceUnavailable) // one retry, then success
	ctx := context.Background()
	if _, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"}); err != nil {
		panic(err)
	}
	_ = tp.Shutdown(ctx)
	_ = mp.Shutdown(ctx) // exports the metrics one last time

	printSpans(&traces)
	printMetricNames(&metrics)
	// Output:
	// span StartTracking: blueshift.attempts=2 http.response.status_code=200
	//   event retry: blueshift.retry.reason=503
	// metric http.client.request.duration
	// metric blueshift.client.calls
	// metric blueshift.client.retries
}

// ExampleWithTelemetry_providers turns telemetry on for one client with
// providers of its own. A real program builds them with an exporter (OTLP,
// say) and a batching span processor, or sets the global ones and passes
// WithTelemetry() alone.
func ExampleWithTelemetry_providers() {
	spans := tracetest.NewSpanRecorder() // a real program: an exporter, sdktrace.WithBatcher
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	fake := blueshifttest.NewServer() // Blueshift, in a test
	defer fake.Close()
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
		otelblueshift.WithTelemetry(otelblueshift.WithTracerProvider(tp), otelblueshift.WithMeterProvider(mp)))
	if err != nil {
		panic(err)
	}
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	fmt.Println(err, spans.Ended()[0].Name())
	// Output: <nil> StartTracking
}

// printSpans prints the spans that stdouttrace wrote as JSON, with a few
// of their attributes.
func printSpans(traces *bytes.Buffer) {
	type keyValue struct {
		Key   string
		Value struct{ Value any }
	}
	dec := json.NewDecoder(traces)
	for dec.More() {
		var span struct {
			Name       string
			Attributes []keyValue
			Events     []struct {
				Name       string
				Attributes []keyValue
			}
		}
		if err := dec.Decode(&span); err != nil {
			panic(err)
		}
		fmt.Printf("span %s:", span.Name)
		for _, kv := range span.Attributes {
			if kv.Key == "http.response.status_code" || kv.Key == "blueshift.attempts" {
				fmt.Printf(" %s=%v", kv.Key, kv.Value.Value)
			}
		}
		fmt.Println()
		for _, ev := range span.Events {
			for _, kv := range ev.Attributes {
				if kv.Key == "blueshift.retry.reason" {
					fmt.Printf("  event %s: %s=%v\n", ev.Name, kv.Key, kv.Value.Value)
				}
			}
		}
	}
}

// printMetricNames prints the names of the metrics that stdoutmetric wrote.
func printMetricNames(metrics *bytes.Buffer) {
	var export struct {
		ScopeMetrics []struct {
			Metrics []struct{ Name string }
		}
	}
	if err := json.NewDecoder(metrics).Decode(&export); err != nil {
		panic(err)
	}
	for _, sm := range export.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Println("metric", m.Name)
		}
	}
}
