package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/outbox"
)

// TestOutboxMetricsOnStdout: the meter provider the service wires prints
// the outbox's gauges and deliveries as JSON, with no identifier.
func TestOutboxMetricsOnStdout(t *testing.T) {
	ctx := context.Background()
	fake := blueshifttest.NewServer()
	defer fake.Close()
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	var out bytes.Buffer
	mp, err := newMeterProvider(&out, time.Hour)
	require.NoError(t, err)
	ob, err := outbox.Open(ctx, client, outbox.SQLite(filepath.Join(t.TempDir(), "o.db")), outbox.WithMeterProvider(mp))
	require.NoError(t, err)
	require.NoError(t, ob.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"}))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	for deadline := time.Now().Add(10 * time.Second); !fake.IsTracked(blueshift.Customer{Email: "ann@example.com"}) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, mp.Shutdown(ctx)) // exports once more, while the gauges are registered
	require.NoError(t, ob.Close())

	var export struct {
		ScopeMetrics []struct {
			Metrics []struct{ Name, Unit string }
		}
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &export))
	units := map[string]string{}
	for _, sm := range export.ScopeMetrics {
		for _, m := range sm.Metrics {
			units[m.Name] = m.Unit
		}
	}
	assert.Equal(t, map[string]string{
		"blueshift.outbox.pending": "{customer}", "blueshift.outbox.settling": "{customer}", "blueshift.outbox.dead": "{customer}",
		"blueshift.outbox.oldest_pending.age": "s", "blueshift.outbox.deliveries": "{delivery}", "blueshift.outbox.delivery.delay": "s",
	}, units)
	assert.Contains(t, out.String(), `"Value":"delivered"`)
	assert.NotContains(t, out.String(), "ann@example.com")
}

func TestMetricsInterval(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
		ok   bool
	}{{"", time.Minute, true}, {"15s", 15 * time.Second, true}, {"0s", 0, false}, {"soon", 0, false}} {
		t.Setenv("METRICS_INTERVAL", tc.env)
		got, err := metricsInterval()
		assert.Equal(t, tc.ok, err == nil, tc.env)
		assert.Equal(t, tc.want, got, tc.env)
	}
}
