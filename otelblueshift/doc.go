// Package otelblueshift instruments a blueshift.Client with OpenTelemetry:
// one client span per call and metrics for every attempt, built on the
// client's hooks (blueshift.WithHooks).
//
//	client, err := blueshift.NewClient(key, otelblueshift.WithTelemetry())
//
// Each call (StartTracking, StopTracking) makes a client span named for
// the operation, a child of the span in the call's context, with the
// HTTP client semantic conventions' attributes (http.request.method,
// server.address, server.port, url.template, http.response.status_code,
// error.type), blueshift.attempts and blueshift.request_id, a "retry"
// event per retry with its reason and wait, and status Error when the call
// fails. The metrics are http.client.request.duration (per attempt) and
// the counters blueshift.client.calls, blueshift.client.retries and
// blueshift.client.throttled, plus the gauge blueshift.client.rate with
// WithAdaptiveRate, one point per client, told apart by
// blueshift.client.id and server.address.
//
// Nothing recorded holds the API key, a request body or a customer's
// identifiers: the hooks never see them.
package otelblueshift
