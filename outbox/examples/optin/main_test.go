package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/outbox"
)

// TestConsentIsRecordedWithTheOutbox: the service answers 204 at once,
// even while Blueshift is down; the consent row and the outbox entry
// commit together, and the outbox delivers once Blueshift is back. A
// refused request leaves neither. On SQLite and, when
// BLUESHIFT_TEST_POSTGRES_DSN is set, on Postgres through DATABASE_URL.
func TestConsentIsRecordedWithTheOutbox(t *testing.T) {
	for name, setup := range databases(t) {
		t.Run(name, func(t *testing.T) {
			setup(t)
			testConsent(t)
		})
	}
}

// databases lists how to point openDatabase at a fresh database.
func databases(t *testing.T) map[string]func(*testing.T) {
	out := map[string]func(*testing.T){"sqlite": func(t *testing.T) {
		t.Setenv("DATABASE_URL", "")
		t.Setenv("CONSENT_DB", filepath.Join(t.TempDir(), "consent.db"))
	}}
	if dsn := os.Getenv("BLUESHIFT_TEST_POSTGRES_DSN"); dsn != "" {
		out["postgres"] = func(t *testing.T) { t.Setenv("DATABASE_URL", freshSchema(t, dsn)) }
	}
	return out
}

// freshSchema creates a schema dropped at cleanup and returns dsn using it.
func freshSchema(t *testing.T, dsn string) string {
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	schema := fmt.Sprintf("optin_test_%d", rand.Uint64())
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	if u, err := url.Parse(dsn); err == nil && strings.HasPrefix(u.Scheme, "postgres") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func testConsent(t *testing.T) {
	ctx := context.Background()
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.FailNext(1_000_000, http.StatusServiceUnavailable) // Blueshift is down
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL), blueshift.WithRetryMax(0))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	db, store, err := openDatabase(ctx)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(ctx, client, store, outbox.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	defer ob.Close()
	handler := consentHandler(db, ob, slog.New(slog.NewTextHandler(io.Discard, nil)))

	for _, tc := range []struct {
		body       string
		wantStatus int
	}{
		{`{"email":"ann@example.com","consent":true}`, 204},
		{`{"email":"bob@example.com","customer_id":"7","consent":false}`, 204},
		{`{"consent":true}`, 400},
		{`{"email":"eve\u0000@example.com","consent":true}`, 400},
		{`{"email":"ann@example.com"}`, 400},
		{`consent=yes`, 400},
		{`{"email":"x@example.com","consent":true}{"email":"z@example.com","consent":false}`, 400}, // never half of it
	} {
		rec := httptest.NewRecorder()
		start := time.Now()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(tc.body)))
		assert.Equal(t, tc.wantStatus, rec.Code, tc.body)
		assert.Less(t, time.Since(start), 2*time.Second, "the answer does not wait for Blueshift")
	}
	var rows int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM consent`).Scan(&rows))
	assert.Equal(t, 2, rows)
	st, err := ob.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Pending)

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	fake.Reset() // Blueshift is back
	deadline := time.Now().Add(10 * time.Second)
	for st.Pending > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		st, err = ob.Stats(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, 0, st.Pending)
	assert.True(t, fake.IsTracked(blueshift.Customer{Email: "ann@example.com"}))
	assert.Len(t, fake.Requests(), 2)
	assert.Equal(t, blueshifttest.StopTrackingPath, findPath(fake, `"customer_id":"7"`))
}

func findPath(fake *blueshifttest.Server, bodyPart string) string {
	for _, r := range fake.Requests() {
		if strings.Contains(string(r.Body), bodyPart) {
			return r.Path
		}
	}
	return ""
}
