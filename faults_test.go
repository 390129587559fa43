package blueshift_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/blueshift-go/blueshift"
)

// The fault matrix: every row is a scenario against a real server on
// loopback, and every row asserts the same promises:
//   - the outcome (success, or which typed error);
//   - Blueshift saw at most RetryMax+1 deliveries (the exact number where it matters);
//   - the call returned within a bound derived from the options:
//     (RetryMax+1) × timeout + RetryMax × max wait, plus slack for a slow machine;
//   - the call allocated at most 2 MiB, whatever the server sent;
//   - no goroutine outlives the scenario;
//   - neither the API key, its base64 form, nor the customer's identifiers
//     appear in the Debug log or in the error string.

const (
	faultKey     = "fault-matrix-secret-key"
	faultRetries = 2
	faultWaitMin = 5 * time.Millisecond
	faultWaitMax = 20 * time.Millisecond
	faultTimeout = 250 * time.Millisecond
	faultSlack   = 2 * time.Second
	maxHeapGrow  = 2 << 20
)

var faultCustomer = blueshift.Customer{Email: "ann@example.com", CustomerID: "CUST-SECRET-9"}

type scenario struct {
	name string
	// handler answers each delivery; the request body has been read.
	handler http.HandlerFunc
	// baseURL, if set, replaces the scenario server as the client's target.
	baseURL func(t *testing.T) string
	// ctx, if set, bounds the call.
	ctx func() (context.Context, context.CancelFunc)
	// opts are added to the matrix's options.
	opts []blueshift.Option
	// check asserts the outcome.
	check func(t *testing.T, resp *blueshift.Response, err error)
	// deliveries is the exact number of requests the server must see, or -1.
	deliveries int
	// bound, if set, replaces the time bound derived from the options.
	bound time.Duration
}

// wantErr checks for an error matching each of targets.
func wantErr(targets ...error) func(*testing.T, *blueshift.Response, error) {
	return func(t *testing.T, resp *blueshift.Response, err error) {
		assert.Nil(t, resp)
		require.Error(t, err)
		for _, target := range targets {
			assert.ErrorIs(t, err, target)
		}
	}
}

// wantNetworkErr checks for an error with no response behind it.
func wantNetworkErr(contains string) func(*testing.T, *blueshift.Response, error) {
	return func(t *testing.T, resp *blueshift.Response, err error) {
		assert.Nil(t, resp)
		require.Error(t, err)
		var apiErr *blueshift.APIError
		assert.False(t, errors.As(err, &apiErr), "no response came back: %v", err)
		var reqErr *blueshift.RequestError
		assert.ErrorAs(t, err, &reqErr, "every failure without an answer is a *RequestError")
		assert.Contains(t, err.Error(), contains)
		if !strings.Contains(contains, "timed out") {
			assert.NotContains(t, err.Error(), "timed out", "a network error keeps its own words")
		}
	}
}

func wantOK(status string, attempts int) func(*testing.T, *blueshift.Response, error) {
	return func(t *testing.T, resp *blueshift.Response, err error) {
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, status, resp.Status)
		assert.Equal(t, attempts, resp.Attempts)
	}
}

// raw hijacks the connection and writes head and body itself; with reset
// it then aborts the connection with a TCP RST instead of closing it.
func raw(head, body string, reset bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString(head + body)
		_ = buf.Flush()
		if tcp, ok := conn.(*net.TCPConn); ok && reset {
			_ = tcp.SetLinger(0)
		}
		conn.Close()
	}
}

// trickle answers status with a 100-byte body, one byte a second.
func trickle(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(status)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < 100; i++ {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}
}

// huge answers status with a 64 MiB body, with or without Content-Length.
func huge(status int, declared bool) http.HandlerFunc {
	const size = 64 << 20
	return func(w http.ResponseWriter, _ *http.Request) {
		if declared {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		w.WriteHeader(status)
		chunk := make([]byte, 32<<10)
		for written := 0; written < size; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// hang never answers, until the client gives up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestFaultMatrix(t *testing.T) {
	var scenarios []scenario

	// Every documented status with every documented body shape: retried
	// statuses exhaust RetryMax, the others are answered at once.
	for _, tc := range statusCases {
		deliveries := 1
		if tc.retried {
			deliveries = faultRetries + 1
		}
		sentinel, status, message := tc.sentinel, tc.status, tc.wantMessage
		scenarios = append(scenarios, scenario{
			name:       fmt.Sprintf("status %d %s", tc.status, tc.body),
			handler:    respond(tc.status, tc.body),
			deliveries: deliveries,
			check: func(t *testing.T, resp *blueshift.Response, err error) {
				wantErr(sentinel)(t, resp, err)
				var apiErr *blueshift.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, status, apiErr.StatusCode)
				assert.Equal(t, message, apiErr.Message)
				assert.Equal(t, deliveries, apiErr.Attempts)
			},
		})
	}

	// Broken connections and bodies.
	scenarios = append(scenarios,
		scenario{name: "reset before the response", handler: raw("", "", true), deliveries: faultRetries + 1,
			check: wantNetworkErr("(3 attempts)")},
		scenario{name: "closed before the response", handler: raw("", "", false), deliveries: faultRetries + 1,
			check: wantNetworkErr("EOF")},
		scenario{name: "reset after the headers of a 200", handler: raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "", true), deliveries: 1,
			check: wantOK("", 1)},
		scenario{name: "reset after the headers of a 503", handler: raw("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\n", "", true), deliveries: faultRetries + 1,
			check: wantErr(blueshift.ErrServiceUnavailable)},
		scenario{name: "reset mid-body of a 200", handler: raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", `{"status":`, true), deliveries: 1,
			check: wantOK("", 1)},
		scenario{name: "reset mid-body of a 500", handler: raw("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n", `{"message":"bo`, true), deliveries: faultRetries + 1,
			check: wantErr(blueshift.ErrInternalServer)},
		scenario{name: "truncated body with a wrong Content-Length", handler: raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", `{"status":"ok"}`, false), deliveries: 1,
			check: wantOK("ok", 1)},
		scenario{name: "server never answers", handler: hang, deliveries: faultRetries + 1,
			check: wantNetworkErr("attempt timed out after 250ms")},
		scenario{name: "headers slower than the timeout", deliveries: faultRetries + 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(4 * faultTimeout):
					okHandler(w, r)
				case <-r.Context().Done():
				}
			},
			check: wantNetworkErr("attempt timed out")},
		scenario{name: "200 body at 1 byte a second", handler: trickle(200), deliveries: 1,
			check: wantOK("", 1)},
		scenario{name: "503 body at 1 byte a second", handler: trickle(503), deliveries: faultRetries + 1,
			check: wantErr(blueshift.ErrServiceUnavailable)},
	)

	// Hostile 64 MiB bodies: read no further than 64 KiB.
	for _, status := range []int{200, 400, 503} {
		for _, declared := range []bool{true, false} {
			sc := scenario{name: fmt.Sprintf("64 MiB body on %d, Content-Length declared %v", status, declared), handler: huge(status, declared)}
			switch status {
			case 200:
				sc.deliveries, sc.check = 1, wantOK("", 1)
			case 400:
				sc.deliveries, sc.check = 1, wantErr(blueshift.ErrBadRequest)
			case 503:
				sc.deliveries, sc.check = faultRetries+1, wantErr(blueshift.ErrServiceUnavailable)
			}
			scenarios = append(scenarios, sc)
		}
	}

	// Redirects, to another host and to the same host on another port: the
	// target must see nothing (the request carries the key and the email).
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { targetHits.Add(1) }))
	defer target.Close()
	_, targetPort, _ := net.SplitHostPort(strings.TrimPrefix(target.URL, "http://"))
	for _, status := range []int{301, 302, 303, 307, 308} {
		for where, url := range map[string]string{
			"another host":                "http://localhost:" + targetPort,
			"the same host, another port": target.URL,
		} {
			scenarios = append(scenarios, scenario{
				name:       fmt.Sprintf("%d redirect to %s", status, where),
				handler:    func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, url+r.URL.Path, status) },
				deliveries: 1,
				check: func(t *testing.T, resp *blueshift.Response, err error) {
					wantErr(blueshift.ErrRedirectRefused)(t, resp, err)
					assert.Contains(t, err.Error(), "redirect refused")
					assert.Zero(t, targetHits.Load(), "the redirect target saw a request")
				},
			})
		}
	}

	// Hosts that cannot be reached.
	var handshakes atomic.Int64
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	untrusted.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			handshakes.Add(1)
		}
	}
	untrusted.Config.ErrorLog = discardLog()
	untrusted.StartTLS()
	defer untrusted.Close()
	scenarios = append(scenarios,
		scenario{name: "DNS failure", deliveries: 0, baseURL: func(*testing.T) string { return "https://blueshift.invalid" },
			check: func(t *testing.T, resp *blueshift.Response, err error) {
				wantNetworkErr("blueshift.invalid")(t, resp, err)
				var dnsErr *net.DNSError
				assert.ErrorAs(t, err, &dnsErr)
			}},
		scenario{name: "TLS certificate not trusted", deliveries: 0, baseURL: func(*testing.T) string { return untrusted.URL },
			check: func(t *testing.T, resp *blueshift.Response, err error) {
				wantNetworkErr("certificate")(t, resp, err)
				assert.Equal(t, int64(1), handshakes.Load(), "not retried")
			}},
		scenario{name: "connection refused", deliveries: 0, baseURL: closedPort,
			check: wantNetworkErr("connection refused")},
	)

	// Retry-After, whatever its value, keeps every wait within [min, max].
	for _, value := range []string{"3600", "9999999999", "-5", "garbage", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
		scenarios = append(scenarios, scenario{
			name: "Retry-After " + value,
			handler: sequence(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", value)
				respond(429, `{"message":"Rate limit exceeded"}`)(w, r)
			}, okHandler),
			deliveries: 2,
			check:      wantOK("ok", 2),
			bound:      faultWaitMax + faultSlack,
		})
	}

	// Deadlines and cancellation during the backoff.
	scenarios = append(scenarios,
		scenario{name: "context deadline shorter than the backoff", handler: respond(503, `{"message":"down"}`), deliveries: 1,
			opts: []blueshift.Option{blueshift.WithRetryWait(10*time.Second, 30*time.Second)},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			bound: 300*time.Millisecond + 50*time.Millisecond,
			check: func(t *testing.T, resp *blueshift.Response, err error) {
				wantErr(context.DeadlineExceeded, blueshift.ErrServiceUnavailable)(t, resp, err)
				var apiErr *blueshift.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, "down", apiErr.Message)
			}},
		scenario{name: "context cancelled during the backoff", handler: respond(429, `{"message":"Rate limit exceeded"}`), deliveries: 1,
			opts: []blueshift.Option{blueshift.WithRetryWait(10*time.Second, 30*time.Second)},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			bound: 100*time.Millisecond + faultSlack,
			check: wantErr(context.Canceled, blueshift.ErrRateLimited)},
		scenario{name: "context deadline during a hanging attempt", handler: hang, deliveries: 1,
			opts: []blueshift.Option{blueshift.WithTimeout(time.Hour)},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			bound: 100*time.Millisecond + faultSlack,
			check: wantErr(context.DeadlineExceeded)},
	)

	// Load the system's root certificates once, before any scenario counts
	// its allocations: that happens at the first TLS handshake of a process.
	_, _ = x509.SystemCertPool()

	t.Logf("%d scenarios", len(scenarios))
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

func runScenario(t *testing.T, sc scenario) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	var deliveries atomic.Int64
	baseURL := ""
	if sc.baseURL != nil {
		baseURL = sc.baseURL(t)
	} else {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			deliveries.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			sc.handler(w, r)
		}))
		srv.Config.ErrorLog = discardLog()
		srv.Start()
		defer srv.Close()
		defer srv.CloseClientConnections()
		baseURL = srv.URL
	}

	var logs strings.Builder
	var mu sync.Mutex
	opts := append([]blueshift.Option{
		blueshift.WithBaseURL(baseURL),
		blueshift.WithRetryMax(faultRetries),
		blueshift.WithRetryWait(faultWaitMin, faultWaitMax),
		blueshift.WithTimeout(faultTimeout),
		blueshift.WithLogger(slogTo(&logs, &mu)),
		blueshift.WithRetryBudget(0),
	}, sc.opts...)
	client, err := blueshift.NewClient(faultKey, opts...)
	require.NoError(t, err)
	defer client.CloseIdleConnections()

	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if sc.ctx != nil {
		ctx, cancel = sc.ctx()
	}
	defer cancel()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	resp, err := client.StartTracking(ctx, faultCustomer)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	sc.check(t, resp, err)
	if sc.deliveries >= 0 {
		assert.Equal(t, int64(sc.deliveries), deliveries.Load(), "deliveries")
	}
	assert.LessOrEqual(t, deliveries.Load(), int64(faultRetries+1), "never more than RetryMax+1 deliveries")
	bound := sc.bound
	if bound == 0 {
		bound = (faultRetries+1)*faultTimeout + faultRetries*faultWaitMax + faultSlack
	}
	assert.LessOrEqual(t, elapsed, bound, "returned within the bound the options imply")
	assert.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, uint64(maxHeapGrow), "bytes allocated by the call")

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	for _, secret := range []string{faultKey, base64.StdEncoding.EncodeToString([]byte(faultKey + ":")), faultCustomer.Email, faultCustomer.CustomerID} {
		assert.NotContains(t, out, secret, "the Debug log")
		assert.NotContains(t, errText, secret, "the error string")
	}
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestRetryBudgetStopsRetryStorms(t *testing.T) {
	const calls, budget, retryMax = 500, 100, 4
	var failing atomic.Bool
	failing.Store(true)
	client, rec := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			respond(503, `{"message":"down"}`)(w, r)
			return
		}
		okHandler(w, r)
	}, blueshift.WithRetryMax(retryMax), blueshift.WithRetryWait(time.Microsecond, time.Microsecond), blueshift.WithRetryBudget(budget))

	for range calls {
		_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "C1"})
		require.ErrorIs(t, err, blueshift.ErrServiceUnavailable)
	}
	sent := rec.Count()
	assert.LessOrEqual(t, sent, calls+budget, "requests for %d calls with a budget of %d retries", calls, budget)
	assert.Greater(t, sent, calls, "the budget allowed some retries")
	t.Logf("%d calls sent %d requests (without a budget: %d)", calls, sent, calls*(retryMax+1))

	// Once Blueshift recovers, calls succeed, and successes refill the budget.
	failing.Store(false)
	for range 100 {
		resp, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "C1"})
		require.NoError(t, err)
		assert.Equal(t, 1, resp.Attempts)
	}
	failing.Store(true)
	before := rec.Count()
	_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "C1"})
	var apiErr *blueshift.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 1+retryMax, rec.Count()-before, "100 successes earned back 10 retries")
	assert.Equal(t, 1+retryMax, apiErr.Attempts)
}
