package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// fastOptions are short backoffs, leases and polls for tests.
func fastOptions() []Option {
	return []Option{
		WithBackoff(5*time.Millisecond, 50*time.Millisecond), WithLease(2 * time.Second),
		WithClientTimeout(time.Second), WithPollInterval(20 * time.Millisecond), WithLateApplyWindow(time.Second),
		WithLogger(slog.New(slog.NewTextHandler(testLogOut, nil))),
	}
}

// newFake starts a fake Blueshift that is closed when the test ends, after
// the Outbox and its Run (registered later, so cleaned up earlier).
func newFake(t testing.TB) *blueshifttest.Server {
	fake := blueshifttest.NewServer()
	t.Cleanup(fake.Close)
	return fake
}

// newClient returns a client for fake that does not retry by itself, so
// that every failure reaches the outbox.
func newClient(t testing.TB, fake *blueshifttest.Server, opts ...blueshift.Option) *blueshift.Client {
	t.Helper()
	opts = append([]blueshift.Option{blueshift.WithBaseURL(fake.URL), blueshift.WithRetryMax(0),
		blueshift.WithTimeout(time.Second)}, opts...)
	client, err := blueshift.NewClient(fake.APIKey, opts...)
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)
	return client
}

// storeCase names a way to get a fresh, empty store.
type storeCase struct {
	name string
	open func(t testing.TB) Store
}

// stores lists SQLite and, when available, Postgres (see postgresDSN).
func stores(t testing.TB) []storeCase {
	cases := []storeCase{{"sqlite", func(t testing.TB) Store { return SQLite(filepath.Join(t.TempDir(), "outbox.db")) }}}
	if dsn := postgresDSN(t, false); dsn != "" {
		cases = append(cases, storeCase{"postgres", func(t testing.TB) Store {
			db, _ := freshPostgres(t, dsn)
			return Postgres(db)
		}})
	}
	return cases
}

// postgresDSN returns BLUESHIFT_TEST_POSTGRES_DSN after checking that the
// server answers. Without it the test fails under CI=true, and otherwise
// is skipped (required) or runs without Postgres.
func postgresDSN(t testing.TB, required bool) string {
	t.Helper()
	dsn := os.Getenv("BLUESHIFT_TEST_POSTGRES_DSN")
	problem := "BLUESHIFT_TEST_POSTGRES_DSN is not set"
	if dsn != "" {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err == nil {
			return dsn
		}
		problem = "Postgres at BLUESHIFT_TEST_POSTGRES_DSN is unreachable: " + err.Error()
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the Postgres tests must run)", problem)
	}
	if required {
		t.Skipf("%s; to run the Postgres tests, start a server and set it, e.g. "+
			"BLUESHIFT_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' (see README, Durable delivery)", problem)
	}
	return ""
}

// freshPostgres opens dsn on a new, empty schema dropped at cleanup, and
// returns the handle and its DSN.
func freshPostgres(t testing.TB, dsn string) (*sql.DB, string) {
	t.Helper()
	schema := fmt.Sprintf("outbox_test_%d", rand.Uint64())
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	dsn = withSearchPath(dsn, schema)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// openOutbox opens an Outbox on store with fastOptions and extra options,
// closed at cleanup.
func openOutbox(t testing.TB, client *blueshift.Client, store Store, opts ...Option) *Outbox {
	t.Helper()
	ob, err := Open(context.Background(), client, store, append(fastOptions(), opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { ob.Close() })
	return ob
}

// startRun runs ob.Run until the returned stop is called (or cleanup),
// checking that Run returned nil within 5 seconds of its context ending.
func startRun(t testing.TB, ob *Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stats returns ob.Stats, failing the test on error.
func stats(t testing.TB, ob *Outbox) Stats {
	t.Helper()
	st, err := ob.Stats(context.Background())
	require.NoError(t, err)
	return st
}

// drained waits until nothing is pending or settling.
func drained(t testing.TB, ob *Outbox) {
	t.Helper()
	eventually(t, 20*time.Second, "the outbox to drain", func() bool {
		st := stats(t, ob)
		return st.Pending == 0 && st.Settling == 0
	})
}

// deadList collects ob.Dead, failing the test on error.
func deadList(t testing.TB, ob *Outbox) []Entry {
	t.Helper()
	var out []Entry
	for e, err := range ob.Dead(context.Background()) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// paths lists the paths of the fake's requests, in order.
func paths(fake *blueshifttest.Server) []string {
	var out []string
	for _, r := range fake.Requests() {
		out = append(out, r.Path)
	}
	return out
}

var testLogOut io.Writer = io.Discard

func init() {
	if os.Getenv("OUTBOX_TEST_LOG") != "" {
		testLogOut = os.Stderr
	}
}
