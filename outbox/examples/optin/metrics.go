package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// newMeterProvider exports the metrics it is given (here the outbox's:
// outbox.WithMeterProvider) as JSON to w every interval, and once more at
// Shutdown. Swap the stdout exporter for OTLP or Prometheus in a real
// service; the outbox's side stays the same.
func newMeterProvider(w io.Writer, every time.Duration) (*sdkmetric.MeterProvider, error) {
	exporter, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, err
	}
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithInterval(every)))), nil
}

// metricsInterval is METRICS_INTERVAL (a duration such as 30s), default
// one minute.
func metricsInterval() (time.Duration, error) {
	v := os.Getenv("METRICS_INTERVAL")
	if v == "" {
		return time.Minute, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("METRICS_INTERVAL must be a positive duration such as 30s, got %q", v)
	}
	return d, nil
}
