package otelblueshift_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestTelemetryRedactsAShortIdentifierFromTheRequestID: a customer ID of
// fewer than 4 bytes that the server echoes into X-Request-Id is redacted
// from the span's blueshift.request_id, as from every error.
func TestTelemetryRedactsAShortIdentifierFromTheRequestID(t *testing.T) {
	for _, status := range []int{200, 400} {
		echo := func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Request-Id", "customer 123")
			w.WriteHeader(status)
		}
		r := newRig(t, nil, echo)
		_, err := r.client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "123"})
		assert.Equal(t, status != 200, err != nil, "error: %v", err)
		spans := r.spans.Ended()
		require.Len(t, spans, 1)
		assert.Equal(t, "customer [redacted]", attrs(spans[0].Attributes())["blueshift.request_id"], "status %d", status)
	}
}
