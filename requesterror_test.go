package blueshift_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

var ann = blueshift.Customer{Email: "ann@example.com"}

func TestAttemptTimeoutIsNotTheCallersDeadline(t *testing.T) {
	client, rec := setup(t, hang, blueshift.WithTimeout(50*time.Millisecond), blueshift.WithRetryMax(1))
	_, err := client.StartTracking(context.Background(), ann)

	assert.ErrorIs(t, err, blueshift.ErrAttemptTimeout)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the caller had no deadline")
	assert.True(t, os.IsTimeout(err), "os.IsTimeout, as for net/http's own timeouts")
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	assert.True(t, netErr.Timeout())
	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Equal(t, 2, reqErr.Attempts)
	assert.Equal(t, "/api/v1/customers/unforget", reqErr.Path)
	assert.Contains(t, err.Error(), "attempt timed out after 50ms (2 attempts)")
	assert.True(t, blueshift.IsRetryable(err))
	assert.Equal(t, 2, rec.Count())
}

func TestCallersDeadlineDuringAnAttempt(t *testing.T) {
	client, _ := setup(t, hang, blueshift.WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client.StartTracking(ctx, ann)

	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, blueshift.ErrAttemptTimeout)
	assert.True(t, os.IsTimeout(err))
	assert.False(t, blueshift.IsRetryable(err), "the caller's own deadline")
}

func TestRefusedConnectionSaysRefused(t *testing.T) {
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(closedPort(t)),
		blueshift.WithRetryWait(time.Millisecond, time.Millisecond), blueshift.WithRetryMax(2))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), ann)

	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), "timed out")
	assert.NotErrorIs(t, err, blueshift.ErrAttemptTimeout)
	assert.False(t, os.IsTimeout(err))
	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Equal(t, 3, reqErr.Attempts)
	assert.True(t, blueshift.IsRetryable(err))
}

func TestRateLimitWaitPastTheDeadline(t *testing.T) {
	client, rec := setup(t, nil, blueshift.WithRateLimit(0.5, 1))
	_, err := client.StartTracking(context.Background(), ann) // takes the only token
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = client.StartTracking(ctx, ann)
	assert.Less(t, time.Since(start), time.Second, "returns at once: the wait cannot finish in time")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Zero(t, reqErr.Attempts)
	assert.Contains(t, err.Error(), "no request was sent")
	assert.Equal(t, 1, rec.Count())

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = client.StartTracking(ctx, ann)
	assert.ErrorIs(t, err, context.Canceled, "cancelled while waiting for the rate limit")
	assert.Equal(t, 1, rec.Count())
}

func TestGivingUpBeforeTheDeadlineKeepsTheCause(t *testing.T) {
	client, rec := setup(t, dropConnection, blueshift.WithRetryWait(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := client.StartTracking(ctx, ann)

	assert.Less(t, time.Since(start), 4*time.Second, "gave up without waiting")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, io.EOF, "the network error that caused the retry is kept")
	assert.Contains(t, err.Error(), "EOF")
	assert.Contains(t, err.Error(), "the next retry would start after the context deadline")
	assert.Equal(t, 1, rec.Count())
}

func TestAlreadyDoneContextReportsNoAttempt(t *testing.T) {
	client, rec := setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.StopTracking(ctx, ann)

	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Zero(t, reqErr.Attempts)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "blueshift: POST /api/v1/customers/forget: context canceled (no request was sent)", err.Error())
	assert.Zero(t, rec.Count())
}

func TestRequestErrorKeepsTheLastAnswer(t *testing.T) {
	client, _ := setup(t, sequence(respond(503, `{"message":"down"}`), dropConnection))
	_, err := client.StartTracking(context.Background(), ann)

	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Equal(t, 3, reqErr.Attempts)
	require.NotNil(t, reqErr.Last)
	assert.Equal(t, 503, reqErr.Last.StatusCode)
	assert.ErrorIs(t, err, blueshift.ErrServiceUnavailable)
	assert.Contains(t, err.Error(), "; last response: blueshift: 503 Service Unavailable: down")
}

func TestIsRetryable(t *testing.T) {
	untrusted := tlsServer(t)
	errFor := func(handler http.HandlerFunc, opts ...blueshift.Option) error {
		client, _ := setup(t, handler, opts...)
		_, err := client.StartTracking(context.Background(), ann)
		return err
	}
	errAt := func(baseURL string) error {
		client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(baseURL), blueshift.WithRetryMax(0))
		require.NoError(t, err)
		_, err = client.StartTracking(context.Background(), ann)
		return err
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	client, _ := setup(t, nil)
	_, cancelledErr := client.StartTracking(cancelled, ann)

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"missing identifier", blueshift.Customer{}.Validate(), false},
		{"invalid identifier", blueshift.Customer{Email: "\x00"}.Validate(), false},
		{"429", errFor(respond(429, ``)), true},
		{"409", errFor(respond(409, ``)), true},
		{"503 wrapped", fmt.Errorf("syncing: %w", errFor(respond(503, ``))), true},
		{"400", errFor(respond(400, ``)), false},
		{"401", errFor(respond(401, ``)), false},
		{"404", errFor(respond(404, ``)), false},
		{"422", errFor(respond(422, ``)), false},
		{"redirect", errFor(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }), false},
		{"undocumented 418", errFor(respond(418, ``)), false},
		{"dropped connection", errFor(dropConnection), true},
		{"attempt timeout", errFor(hang, blueshift.WithTimeout(20*time.Millisecond), blueshift.WithRetryMax(0)), true},
		{"connection refused", errAt(closedPort(t)), true},
		{"untrusted certificate", errAt(untrusted), false},
		{"unknown host", errAt("https://blueshift.invalid"), false},
		{"cancelled by the caller", cancelledErr, false},
		{"plain context error", context.DeadlineExceeded, false},
		{"some other error", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, blueshift.IsRetryable(tc.err), "%v", tc.err)
		})
	}
}

// tlsServer returns the URL of a TLS server whose certificate the client
// does not trust.
func tlsServer(t *testing.T) string {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestEchoedIdentifiersNeverReachTheLog(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-ANN@EXAMPLE.COM-1")
		w.WriteHeader(503)
		_, _ = io.WriteString(w, `{"message":"ann@exa\ufffdmple.com is busy"}`)
	}
	client, _ := setup(t, echo, blueshift.WithLogger(slogTo(&logs, &mu)), blueshift.WithRetryMax(1))
	_, err := client.StartTracking(context.Background(), ann)
	require.Error(t, err)
	assert.Equal(t, "blueshift: 503 Service Unavailable: [redacted] is busy (request id req-[redacted]-1, 2 attempts)", err.Error())
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), "request_id=req-[redacted]-1")
	assert.NotContains(t, strings.ToLower(logs.String()), "ann@example.com")
}

func TestGivingUpAfterANetworkErrorIsATimeout(t *testing.T) {
	client, _ := setup(t, dropConnection, blueshift.WithRetryWait(time.Second, 2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := client.StartTracking(ctx, ann)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, os.IsTimeout(err), "the deadline ended the call: a timeout, whatever caused the retry")
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	assert.True(t, netErr.Timeout())
}

func TestErrorNamesTheAttemptsOnce(t *testing.T) {
	client, _ := setup(t, sequence(respond(503, `{"message":"nope"}`), respond(503, `{"message":"nope"}`), dropConnection))
	_, err := client.StartTracking(context.Background(), ann)
	assert.Equal(t, 1, strings.Count(err.Error(), "attempts"), err.Error())
	assert.Contains(t, err.Error(), "(3 attempts); last response: blueshift: 503 Service Unavailable: nope (request id req-1)")
}

func TestBaseURLWithAnImpossiblePortIsRefused(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1:99999", "https://api.example.com:0", "https://api.example.com:-1", "http://localhost:http"} {
		_, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(u))
		assert.Error(t, err, u)
	}
	_, err := blueshift.NewClient(testKey, blueshift.WithBaseURL("https://api.example.com:8443"))
	assert.NoError(t, err)
}
