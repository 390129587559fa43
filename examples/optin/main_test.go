package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

func TestConsentEndpointAgainstTheFake(t *testing.T) {
	ann := blueshift.Customer{Email: "ann@example.com"}
	for _, tc := range []struct {
		name        string
		setup       func(*blueshifttest.Server)
		body        string
		wantStatus  int
		wantTracked bool
	}{
		{"opt in", nil, `{"email":"ann@example.com","consent":true}`, 204, true},
		{"opt out", nil, `{"email":"ann@example.com","consent":false}`, 204, false},
		{"device id", nil, `{"device_id":"dev-1","consent":true}`, 204, false},
		{"malformed identifier", nil, `{"email":"ann\u0000@example.com","consent":true}`, 400, false},
		{"no identifier", nil, `{"consent":true}`, 400, false},
		{"no consent field", nil, `{"email":"ann@example.com"}`, 400, false},
		{"not json", nil, `consent=yes`, 400, false},
		{"two objects", nil, `{"email":"ann@example.com","consent":true}{"email":"ann@example.com","consent":false}`, 400, false},
		{"transient failures are retried", func(s *blueshifttest.Server) { s.FailNext(2, 503) }, `{"email":"ann@example.com","consent":true}`, 204, true},
		{"blueshift down", func(s *blueshifttest.Server) { s.FailNext(10, 503) }, `{"email":"ann@example.com","consent":true}`, 503, false},
		{"rate limited", func(s *blueshifttest.Server) { s.FailNext(10, 429) }, `{"email":"ann@example.com","consent":true}`, 503, false},
		{"bad key", func(s *blueshifttest.Server) { s.FailNext(1, 401) }, `{"email":"ann@example.com","consent":true}`, 502, false},
		{"rejected identifiers", func(s *blueshifttest.Server) { s.FailNext(1, 422) }, `{"email":"ann@example.com","consent":true}`, 400, false},
		{"dropped connections", func(s *blueshifttest.Server) { s.DropNext(10) }, `{"email":"ann@example.com","consent":true}`, 503, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			if tc.setup != nil {
				tc.setup(fake)
			}
			client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
				blueshift.WithRetryWait(time.Millisecond, 2*time.Millisecond))
			require.NoError(t, err)
			handler := consentHandler(client, quiet, blueshiftDeadline)

			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(tc.body)))
			assert.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			assert.Equal(t, tc.wantTracked, fake.IsTracked(ann))
			if rec.Code == 503 {
				assert.Equal(t, "30", rec.Header().Get("Retry-After"))
			}
			assert.NotContains(t, rec.Body.String(), fake.APIKey)
		})
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConsentEndpointGivesUpAtItsDeadline(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour)
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	require.NoError(t, err)
	handler := consentHandler(client, quiet, 50*time.Millisecond)

	start := time.Now()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(`{"customer_id":"C1","consent":true}`)))
	assert.Equal(t, 503, rec.Code)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestCallerHangingUpDoesNotAbortAnErasure(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	ann := blueshift.Customer{Email: "ann@example.com"}
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
		blueshift.WithRetryWait(100*time.Millisecond, 100*time.Millisecond))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), ann)
	require.NoError(t, err)

	fake.FailNext(1, http.StatusServiceUnavailable) // the erasure needs a retry
	req := httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(`{"email":"ann@example.com","consent":false}`))
	ctx, hangUp := context.WithCancel(req.Context())
	time.AfterFunc(20*time.Millisecond, hangUp) // the caller goes away mid-retry
	rec := httptest.NewRecorder()
	consentHandler(client, quiet, 10*time.Second).ServeHTTP(rec, req.WithContext(ctx))

	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.False(t, fake.IsTracked(ann), "the erasure went through")
	assert.Len(t, fake.Requests(), 3, "start, the failed stop, its retry")
}

// serving starts serve on a loopback port with the given call deadline and
// shutdown grace, and returns its address, the stop (SIGTERM) function and
// serve's result.
func serving(t *testing.T, client *blueshift.Client, deadline, grace time.Duration) (string, context.CancelFunc, <-chan error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, l, consentHandler(client, quiet, deadline), grace) }()
	return l.Addr().String(), stop, served
}

// postConsent posts body to the service at addr and returns the status, 0
// if no answer came back.
func postConsent(addr, body string) int {
	resp, err := http.Post("http://"+addr+"/consent", "application/json", strings.NewReader(body))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestShutdownWaitsForCallsInFlight(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(300 * time.Millisecond)
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	require.NoError(t, err)
	addr, stop, served := serving(t, client, 10*time.Second, 5*time.Second)

	answer := make(chan int, 1)
	go func() { answer <- postConsent(addr, `{"customer_id":"C1","consent":true}`) }()
	require.Eventually(t, func() bool { return len(fake.Requests()) == 1 }, 5*time.Second, time.Millisecond, "the call reached Blueshift")
	stop() // SIGTERM while the call is in flight

	assert.Equal(t, http.StatusNoContent, <-answer, "the caller got its answer, not an empty reply")
	assert.NoError(t, <-served)
	assert.True(t, fake.IsTracked(blueshift.Customer{CustomerID: "C1"}))
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "no longer accepting")
}

func TestShutdownIsBounded(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour)
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	require.NoError(t, err)
	addr, stop, served := serving(t, client, 300*time.Millisecond, 100*time.Millisecond)

	go postConsent(addr, `{"customer_id":"C1","consent":true}`)
	require.Eventually(t, func() bool { return len(fake.Requests()) == 1 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	stop()
	assert.ErrorContains(t, <-served, "requests still in flight after 100ms")
	assert.Less(t, time.Since(start), 5*time.Second)
}
