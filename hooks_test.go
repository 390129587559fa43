package blueshift_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// hookLog records every hook event of a client, in order.
type hookLog struct {
	mu     sync.Mutex
	events []any // CallStartInfo, AttemptStartInfo, AttemptDoneInfo, CallDoneInfo
	ctxOK  []bool
}

type hookCtxKey struct{}

func (l *hookLog) add(ctx context.Context, info any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, info)
	l.ctxOK = append(l.ctxOK, ctx.Value(hookCtxKey{}) == "derived")
}

// hooks returns Hooks that record into l; CallStart derives a context that
// every later hook must receive.
func (l *hookLog) hooks() blueshift.Hooks {
	return blueshift.Hooks{
		CallStart: func(ctx context.Context, info blueshift.CallStartInfo) context.Context {
			ctx = context.WithValue(ctx, hookCtxKey{}, "derived")
			l.add(ctx, info)
			return ctx
		},
		AttemptStart: func(ctx context.Context, info blueshift.AttemptStartInfo) { l.add(ctx, info) },
		AttemptDone:  func(ctx context.Context, info blueshift.AttemptDoneInfo) { l.add(ctx, info) },
		CallDone:     func(ctx context.Context, info blueshift.CallDoneInfo) { l.add(ctx, info) },
	}
}

func (l *hookLog) Events() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, ok := range l.ctxOK {
		if !ok {
			panic(fmt.Sprintf("hook event %d did not get CallStart's context", i))
		}
	}
	return append([]any(nil), l.events...)
}

// kinds names the events in order, with their attempt, status and class:
// "call", "start 1", "done 1 503 503 retry", "start 2 503", "done 2 200", "end 2 200".
func kinds(events []any) []string {
	var out []string
	for _, e := range events {
		switch e := e.(type) {
		case blueshift.CallStartInfo:
			out = append(out, "call "+string(e.Operation))
		case blueshift.AttemptStartInfo:
			out = append(out, strings.TrimSpace(fmt.Sprintf("start %d %s", e.Attempt, e.RetryReason)))
		case blueshift.AttemptDoneInfo:
			s := fmt.Sprintf("done %d %d %s", e.Attempt, e.StatusCode, e.ErrorClass)
			if e.Retry {
				s += " retry"
			}
			out = append(out, strings.Join(strings.Fields(s), " "))
		case blueshift.CallDoneInfo:
			out = append(out, strings.Join(strings.Fields(fmt.Sprintf("end %d %d %s", e.Attempts, e.StatusCode, e.ErrorClass)), " "))
		}
	}
	return out
}

func slowHandler(d time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		okHandler(w, r)
	}
}

func TestHooksSeeEveryCallAndAttempt(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		opts    []blueshift.Option
		ctx     context.Context
		stop    bool
		want    []string
	}{
		{name: "success", want: []string{"call StartTracking", "start 1", "done 1 200", "end 1 200"}},
		{name: "stop tracking", stop: true, want: []string{"call StopTracking", "start 1", "done 1 200", "end 1 200"}},
		{name: "retry then success", handler: sequence(respond(503, `{}`), okHandler),
			want: []string{"call StartTracking", "start 1", "done 1 503 503 retry", "start 2 503", "done 2 200", "end 2 200"}},
		{name: "429 then success", handler: sequence(respond(429, `{}`), okHandler),
			want: []string{"call StartTracking", "start 1", "done 1 429 429 retry", "start 2 429", "done 2 200", "end 2 200"}},
		{name: "final 4xx", handler: respond(400, `{"message":"bad"}`),
			want: []string{"call StartTracking", "start 1", "done 1 400 400", "end 1 400 400"}},
		{name: "exhausted 5xx", handler: respond(503, `{}`),
			want: []string{"call StartTracking", "start 1", "done 1 503 503 retry", "start 2 503", "done 2 503 503 retry",
				"start 3 503", "done 3 503 503", "end 3 503 503"}},
		{name: "network error", handler: dropConnection, opts: []blueshift.Option{blueshift.WithRetryMax(1)},
			want: []string{"call StartTracking", "start 1", "done 1 0 network retry", "start 2 network", "done 2 0 network", "end 2 0 network"}},
		{name: "network error after a 503", handler: sequence(respond(503, `{}`), dropConnection), opts: []blueshift.Option{blueshift.WithRetryMax(1)},
			want: []string{"call StartTracking", "start 1", "done 1 503 503 retry", "start 2 503", "done 2 0 network", "end 2 503 network"}},
		{name: "attempt timeout", handler: slowHandler(5 * time.Second), opts: []blueshift.Option{blueshift.WithRetryMax(0), blueshift.WithTimeout(30 * time.Millisecond)},
			want: []string{"call StartTracking", "start 1", "done 1 0 attempt_timeout", "end 1 0 attempt_timeout"}},
		{name: "cancelled before sending", ctx: cancelled,
			want: []string{"call StartTracking", "end 0 0 canceled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log hookLog
			client, _ := setup(t, tc.handler, append(tc.opts, blueshift.WithHooks(log.hooks()))...)
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			call := client.StartTracking
			if tc.stop {
				call = client.StopTracking
			}
			_, _ = call(ctx, blueshift.Customer{Email: "ann@example.com"})
			events := log.Events()
			assert.Equal(t, tc.want, kinds(events))

			start := events[0].(blueshift.CallStartInfo)
			u, _ := url.Parse(client.BaseURL())
			port, _ := strconv.Atoi(u.Port())
			wantPath := "/api/v1/customers/unforget"
			if tc.stop {
				wantPath = "/api/v1/customers/forget"
			}
			assert.Equal(t, blueshift.CallStartInfo{Operation: start.Operation, Method: "POST", URLTemplate: wantPath,
				ServerAddress: "127.0.0.1", ServerPort: port}, start)
			end := events[len(events)-1].(blueshift.CallDoneInfo)
			assert.Positive(t, end.Duration)
			if end.StatusCode == 200 {
				assert.Equal(t, "req-ok", end.RequestID)
			}
			for _, e := range events {
				if done, ok := e.(blueshift.AttemptDoneInfo); ok {
					assert.Positive(t, done.Duration)
					assert.Zero(t, done.Rate, "no adaptive rate")
				}
				if st, ok := e.(blueshift.AttemptStartInfo); ok && st.Attempt > 1 {
					assert.GreaterOrEqual(t, st.RetryWait, time.Millisecond, "the backoff is at least WithRetryWait's min")
				}
			}
		})
	}
}

func TestHooksReportRateWaitAndAdaptiveRate(t *testing.T) {
	var fixed hookLog
	client, _ := setup(t, nil, blueshift.WithRateLimit(20, 1), blueshift.WithHooks(fixed.hooks()))
	for range 2 {
		_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
		require.NoError(t, err)
	}
	var waits []time.Duration
	for _, e := range fixed.Events() {
		if st, ok := e.(blueshift.AttemptStartInfo); ok {
			waits = append(waits, st.RateWait)
		}
	}
	require.Len(t, waits, 2)
	assert.GreaterOrEqual(t, waits[1], 20*time.Millisecond, "the second call waits for its 50 ms slot")

	var adaptive hookLog
	client, _ = setup(t, nil, blueshift.WithAdaptiveRate(5, 100), blueshift.WithHooks(adaptive.hooks()))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	for _, e := range adaptive.Events() {
		if done, ok := e.(blueshift.AttemptDoneInfo); ok {
			assert.GreaterOrEqual(t, done.Rate, 5.0)
		}
	}
}

// TestHooksRateWaitIsZeroWithoutARateLimit: without WithRateLimit or
// WithAdaptiveRate, AttemptStartInfo.RateWait is exactly 0, as documented,
// for first attempts and retries alike.
func TestHooksRateWaitIsZeroWithoutARateLimit(t *testing.T) {
	var log hookLog
	client, _ := setup(t, sequence(respond(503, `{}`), okHandler), blueshift.WithHooks(log.hooks()))
	for range 3 {
		_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
		require.NoError(t, err)
	}
	var waits []time.Duration
	for _, e := range log.Events() {
		if st, ok := e.(blueshift.AttemptStartInfo); ok {
			waits = append(waits, st.RateWait)
		}
	}
	assert.Equal(t, []time.Duration{0, 0, 0, 0}, waits, "the first call's two attempts (one a retry), one each of the others")
}

func TestHooksNeverSeeTheKeyOrAnIdentifier(t *testing.T) {
	customer := blueshift.Customer{Email: "secret.ann@example.com", CustomerID: "CUST-SECRET-42", DeviceID: "dev-secret-7"}
	echoes := func(w http.ResponseWriter, r *http.Request) {
		// A hostile server echoes what it got into the request id.
		w.Header().Set("X-Request-Id", "id "+r.Header.Get("Authorization")+" "+customer.Email)
		w.WriteHeader(503)
	}
	var log hookLog
	client, _ := setup(t, echoes, blueshift.WithHooks(log.hooks()))
	_, err := client.StartTracking(context.Background(), customer)
	require.Error(t, err)
	all := fmt.Sprintf("%#v %+v", log.Events(), log.Events())
	for _, secret := range []string{testKey, b64(testKey + ":"), customer.Email, customer.CustomerID, customer.DeviceID} {
		assert.NotContains(t, all, secret)
	}
	assert.Contains(t, all, "503")
}

func TestWithHooks(t *testing.T) {
	_, err := blueshift.NewClient(testKey, blueshift.WithHooks(blueshift.Hooks{}))
	assert.ErrorContains(t, err, "WithHooks needs at least one function")

	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	first := blueshift.Hooks{CallDone: func(context.Context, blueshift.CallDoneInfo) { note("first") }}
	second := blueshift.Hooks{CallDone: func(context.Context, blueshift.CallDoneInfo) { note("second") }}
	client, _ := setup(t, nil, blueshift.WithHooks(first), blueshift.WithHooks(second))
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	assert.Equal(t, []string{"first", "second"}, order)
}

func TestHooksSeeTheResendOnADeadKeepAliveConnection(t *testing.T) {
	srv := newStaleKeepAliveServer(t, 0)
	var log hookLog
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL),
		blueshift.WithRetryWait(10*time.Second, 30*time.Second), blueshift.WithHooks(log.hooks()))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	for range 2 { // the second call reuses the connection the server will close
		_, err := client.StartTracking(context.Background(), ann)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{
		"call StartTracking", "start 1", "done 1 200", "end 1 200",
		"call StartTracking", "start 1", "done 1 0 network retry", "start 2 dead_connection", "done 2 200", "end 2 200",
	}, kinds(log.Events()))
}

func ExampleWithHooks() {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	hooks := blueshift.Hooks{
		CallStart: func(ctx context.Context, info blueshift.CallStartInfo) context.Context {
			fmt.Println("call", info.Operation, info.Method, info.URLTemplate)
			return ctx // a tracer returns the context holding its span
		},
		AttemptStart: func(_ context.Context, info blueshift.AttemptStartInfo) {
			if info.Attempt > 1 {
				fmt.Printf("attempt %d, a retry after %s\n", info.Attempt, info.RetryReason)
			}
		},
		AttemptDone: func(_ context.Context, info blueshift.AttemptDoneInfo) {
			fmt.Printf("attempt %d: status %d, retry %t\n", info.Attempt, info.StatusCode, info.Retry)
		},
		CallDone: func(_ context.Context, info blueshift.CallDoneInfo) {
			fmt.Printf("call done: %d attempts, status %d, error class %q\n", info.Attempts, info.StatusCode, info.ErrorClass)
		},
	}
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
		blueshift.WithRetryWait(time.Millisecond, 10*time.Millisecond), blueshift.WithHooks(hooks))
	if err != nil {
		panic(err)
	}
	fake.FailNext(1, http.StatusServiceUnavailable)
	_, _ = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	// Output:
	// call StartTracking POST /api/v1/customers/unforget
	// attempt 1: status 503, retry true
	// attempt 2, a retry after 503
	// attempt 2: status 200, retry false
	// call done: 2 attempts, status 200, error class ""
}

func TestHooksClassifyARefusedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS() // a certificate the client does not trust
	defer srv.Close()
	var log hookLog
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL), blueshift.WithHooks(log.hooks()))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), ann)
	require.Error(t, err)
	assert.Equal(t, []string{"call StartTracking", "start 1", "done 1 0 tls", "end 1 0 tls"}, kinds(log.Events()),
		"a refused certificate is not retried")
}
