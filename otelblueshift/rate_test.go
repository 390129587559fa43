package otelblueshift_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/otelblueshift"
)

// TestTelemetryRateGaugeOfTwoClients: two adaptive clients on one
// MeterProvider each report their own rate, told apart by
// blueshift.client.id, with their server.address.
func TestTelemetryRateGaugeOfTwoClients(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	for _, rate := range []float64{5, 7} { // initial = max: a rate that does not move
		client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL), blueshift.WithAdaptiveRate(rate, rate),
			otelblueshift.WithTelemetry(otelblueshift.WithMeterProvider(mp)))
		require.NoError(t, err)
		t.Cleanup(client.CloseIdleConnections)
		_, err = client.StartTracking(context.Background(), customer)
		require.NoError(t, err)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]float64{} // client id → rate
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != otelblueshift.RateMetric {
				continue
			}
			gauge, ok := m.Data.(metricdata.Gauge[float64])
			require.True(t, ok, "%s is a float64 gauge", m.Name)
			for _, p := range gauge.DataPoints {
				kv := attrs(p.Attributes.ToSlice())
				assert.Len(t, kv, 2, "only the client id and the server address: %v", kv)
				assert.Equal(t, "127.0.0.1", kv["server.address"])
				id := kv[string(otelblueshift.ClientIDKey)]
				_, err := strconv.ParseInt(id, 10, 64)
				assert.NoError(t, err, "the client id is a number")
				got[id] = p.Value
			}
		}
	}
	require.Len(t, got, 2, "one point per client: %v", got)
	var rates []float64
	for _, v := range got {
		rates = append(rates, v)
	}
	assert.ElementsMatch(t, []float64{5, 7}, rates)
}
