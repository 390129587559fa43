package blueshift_test

import (
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

const testKey = "abc123"

// recorded is one request as the test server saw it.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

// recorder is an httptest server whose handler the test sets, and which
// records every request it receives.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	handler  http.HandlerFunc
}

func (r *recorder) Requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

func (r *recorder) Count() int { return len(r.Requests()) }

// setup returns a client wired to a fresh test server that answers with
// handler (nil: 200 {"status":"ok"}), with millisecond retry waits so that
// retry tests are fast, plus any extra options.
func setup(t *testing.T, handler http.HandlerFunc, opts ...blueshift.Option) (*blueshift.Client, *recorder) {
	t.Helper()
	if handler == nil {
		handler = okHandler
	}
	rec := &recorder{handler: handler}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, recorded{r.Method, r.URL.Path, r.Header.Clone(), string(body)})
		rec.mu.Unlock()
		rec.handler(w, r)
	}))
	t.Cleanup(rec.Close)
	base := []blueshift.Option{
		blueshift.WithBaseURL(rec.URL),
		blueshift.WithRetryWait(time.Millisecond, 5*time.Millisecond),
		blueshift.WithRetryMax(2),
		blueshift.WithRetryBudget(0),
	}
	client, err := blueshift.NewClient(testKey, append(base, opts...)...)
	require.NoError(t, err)
	return client, rec
}

func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req-ok")
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

// respond returns a handler that answers every request with status and body.
func respond(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "req-1")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// sequence returns a handler that runs the given handlers in turn, one per
// request, repeating the last one.
func sequence(handlers ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(n, len(handlers)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

// dropConnection closes the connection without writing a response.
func dropConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// lockedWriter serialises writes from concurrent log calls.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// slogTo returns a Debug-level text logger writing to w.
func slogTo(w io.Writer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu, w}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// discardLog silences an httptest server's own error log (TLS handshake
// failures and the like are the point of some tests).
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
