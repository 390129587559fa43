package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command in-process with stdin (not a terminal).
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "missing.db")
	t.Setenv("DATABASE_URL", "")
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, exitUsage, "Usage:"},
		{"unknown command", []string{"deliver"}, exitUsage, `unknown command "deliver"`},
		{"no store", []string{"stats"}, exitUsage, "give the outbox: --sqlite PATH or --postgres DSN"},
		{"two stores", []string{"stats", "--sqlite", db, "--postgres", "host=x"}, exitUsage, "not both"},
		{"unknown flag", []string{"dead", "--sqlite", db, "--all"}, exitUsage, "flag provided but not defined: -all"},
		{"extra argument", []string{"stats", "--sqlite", db, "now"}, exitUsage, `unexpected argument "now"`},
		{"retry of nobody", []string{"retry", "--sqlite", db}, exitUsage, "or --all"},
		{"retry of one and all", []string{"retry", "--sqlite", db, "--all", "--email", "a@example.com"}, exitUsage, "not both"},
		{"discard of nobody", []string{"discard", "--sqlite", db, "--yes"}, exitUsage, "discard takes one customer"},
		{"invalid identifier", []string{"retry", "--sqlite", db, "--email", "not-an-email\x00"}, exitUsage, "retry: invalid identifier: email"},
		{"blank identifier", []string{"discard", "--sqlite", db, "--cookie", " "}, exitUsage, "discard: customer needs an email"},
		{"negative limit", []string{"dead", "--sqlite", db, "--limit", "-1"}, exitUsage, "--limit"},
		{"missing file", []string{"stats", "--sqlite", db}, exitUsage, "no such file"},
		{"malformed DSN", []string{"stats", "--postgres", "postgres://u:not-an-email-pw@h:notaport/db"}, exitUsage, "stats: --postgres: cannot parse"},
		{"malformed keyword DSN", []string{"dead", "--postgres", "host=/tmp port=x password=not-an-email-pw"}, exitUsage, "dead: --postgres: cannot parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", tc.args...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.stderr)
			assert.Empty(t, r.stdout)
			assert.NotContains(t, r.stderr, "not-an-email", "no identifier in messages")
		})
	}
	_, err := os.Stat(db)
	assert.True(t, os.IsNotExist(err), "a mistyped path creates no file")
}

func TestHelpAndVersion(t *testing.T) {
	r := runCmd(t, "", "version")
	assert.Equal(t, result{exitOK, "blueshift-outbox " + blueshift.Version + "\n", ""}, r)
	r = runCmd(t, "", "help")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "blueshift-outbox discard [flags]")
	for _, cmd := range []string{"stats", "dead", "retry", "discard"} {
		for _, args := range [][]string{{cmd, "-h"}, {"help", cmd}} {
			r := runCmd(t, "", args...)
			assert.Equal(t, exitOK, r.code)
			assert.Contains(t, r.stdout, "Usage: blueshift-outbox "+cmd)
			assert.Contains(t, r.stdout, "-sqlite")
			assert.Contains(t, r.stdout, "Examples:")
		}
	}
}

// storeCase is a store to run the command against: the flags that name
// it for the command and the Store for the live Outbox.
type storeCase struct {
	name  string
	flags []string
	store func(t *testing.T) outbox.Store
}

func stores(t *testing.T) []storeCase {
	path := filepath.Join(t.TempDir(), "outbox.db")
	cases := []storeCase{{"sqlite", []string{"--sqlite", path}, func(*testing.T) outbox.Store { return outbox.SQLite(path) }}}
	dsn := os.Getenv("BLUESHIFT_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("BLUESHIFT_TEST_POSTGRES_DSN is not set (CI=true: the Postgres tests must run)")
		}
		t.Log("BLUESHIFT_TEST_POSTGRES_DSN is not set: Postgres skipped")
		return cases
	}
	schema := fmt.Sprintf("outbox_cmd_test_%d", rand.Uint64())
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	dsn += " search_path=" + schema
	return append(cases, storeCase{"postgres", []string{"--postgres", dsn}, func(t *testing.T) outbox.Store {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return outbox.Postgres(db)
	}})
}

// liveOutbox opens an Outbox on store delivering to fake, with Run running
// until cleanup, and returns it.
func liveOutbox(t *testing.T, fake *blueshifttest.Server, store outbox.Store) *outbox.Outbox {
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL), blueshift.WithRetryMax(0), blueshift.WithTimeout(time.Second))
	require.NoError(t, err)
	ob, err := outbox.Open(context.Background(), client, store, outbox.WithPollInterval(20*time.Millisecond),
		outbox.WithLease(2*time.Second), outbox.WithClientTimeout(time.Second), outbox.WithLateApplyWindow(time.Second))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "the live Run ends cleanly")
		ob.Close()
		client.CloseIdleConnections()
	})
	return ob
}

// waitFor polls cond every 10 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEndToEndBesideLiveRun (issue 19, item 4): every command on both
// stores while a Run delivers from the same table: stats, dead (text,
// NDJSON, --limit), discard refused without --yes on a non-terminal,
// discard, retry of one customer (which the live Run then delivers) and
// retry --all. No message on stderr holds an identifier.
func TestEndToEndBesideLiveRun(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := blueshifttest.NewServer()
			t.Cleanup(fake.Close)
			fake.FailNext(2, 400) // the first two deliveries are refused for good
			ob := liveOutbox(t, fake, sc.store(t))
			ann, bob, cid := blueshift.Customer{Email: "ann@example.com"}, blueshift.Customer{CustomerID: "cust-77"}, blueshift.Customer{Email: "cid@example.com"}
			require.NoError(t, ob.StopTracking(ctx, ann))
			waitFor(t, "ann's dead entry", func() bool { st, _ := ob.Stats(ctx); return st.Dead == 1 })
			require.NoError(t, ob.StartTracking(ctx, bob))
			waitFor(t, "bob's dead entry", func() bool { st, _ := ob.Stats(ctx); return st.Dead == 2 })
			require.NoError(t, ob.StartTracking(ctx, cid))
			waitFor(t, "cid's delivery", func() bool { return fake.IsTracked(cid) })

			var stderrs []string
			cmd := func(stdin string, args ...string) result {
				r := runCmd(t, stdin, append(args, sc.flags...)...)
				stderrs = append(stderrs, r.stderr)
				return r
			}
			r := cmd("", "stats", "--json")
			require.Equal(t, exitOK, r.code, r.stderr)
			var st statsJSON
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
			assert.Equal(t, statsJSON{Pending: 0, Settling: 0, Dead: 2}, st)
			r = cmd("", "stats")
			assert.Equal(t, "pending:        0\nsettling:       0\ndead:           2\noldest pending: 0s\n", r.stdout)

			r = cmd("", "dead", "--json")
			require.Equal(t, exitOK, r.code, r.stderr)
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			require.Len(t, lines, 2)
			var first, second entryJSON
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
			require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
			assert.Equal(t, "ann@example.com", first.Email)
			assert.False(t, first.Tracked)
			assert.Equal(t, 1, first.Attempts)
			assert.Contains(t, first.LastError, "400")
			assert.Equal(t, "cust-77", second.CustomerID)
			assert.True(t, second.Tracked)
			assert.NotContains(t, lines[1], `"email"`, "unset identifiers are left out")

			r = cmd("", "dead", "--json", "--limit", "1")
			assert.Equal(t, lines[0]+"\n", r.stdout)
			r = cmd("", "dead")
			assert.Contains(t, r.stdout, "email=ann@example.com")
			assert.Contains(t, r.stdout, "customer_id=cust-77")
			assert.True(t, strings.HasPrefix(r.stdout, "SINCE"))
			assert.True(t, strings.HasSuffix(r.stdout, "\n2 dead entries\n"))

			r = cmd("yes\n", "discard", "--email", "ann@example.com")
			assert.Equal(t, exitUsage, r.code, "refused without --yes on a non-terminal")
			assert.Contains(t, r.stderr, "add --yes to confirm")
			st2, err := ob.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, 2, st2.Dead, "nothing discarded")

			r = cmd("", "discard", "--email", "ann@example.com", "--yes")
			assert.Equal(t, exitOK, r.code, r.stderr)
			r = cmd("", "discard", "--email", "ann@example.com", "--yes")
			assert.Equal(t, exitFailed, r.code)
			assert.Equal(t, "blueshift-outbox discard: no dead entry for this customer\n", r.stderr)
			r = cmd("", "retry", "--email", "ann@example.com")
			assert.Equal(t, exitFailed, r.code, "discarded is not retriable")

			r = cmd("", "retry", "--customer-id", "cust-77")
			assert.Equal(t, exitOK, r.code, r.stderr)
			waitFor(t, "the live Run to deliver the retried customer", func() bool { return fake.IsTracked(bob) })
			r = cmd("", "retry", "--all")
			assert.Equal(t, result{exitOK, "ok: 0 dead entries are pending again\n", ""}, result{r.code, r.stdout, r.stderr})
			assert.False(t, fake.IsTracked(ann), "the discarded change was never sent")
			assert.Equal(t, 1, fake.MaxInFlightPerCustomer(), "no overlapping deliveries beside the command")
			for _, s := range stderrs {
				for _, id := range []string{"ann@example.com", "cust-77", "cid@example.com"} {
					assert.NotContains(t, s, id)
				}
			}
		})
	}
}

// TestPostgresFromDatabaseURL: without --sqlite or --postgres the command
// reads DATABASE_URL.
func TestPostgresFromDatabaseURL(t *testing.T) {
	for _, sc := range stores(t) {
		if sc.name != "postgres" {
			continue
		}
		ob, err := outbox.Open(context.Background(), mustClient(t), sc.store(t))
		require.NoError(t, err)
		require.NoError(t, ob.StartTracking(context.Background(), blueshift.Customer{Email: "url@example.com"}))
		require.NoError(t, ob.Close())
		t.Setenv("DATABASE_URL", sc.flags[1])
		r := runCmd(t, "", "stats", "--json")
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"pending":1`)
	}
}

// markDead makes every entry of the SQLite outbox at path dead, as
// Blueshift refusing them would.
func markDead(t *testing.T, path string) {
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE blueshift_outbox SET status = 2, last_error = 'test: refused'`)
	require.NoError(t, err)
}

func mustClient(t *testing.T) *blueshift.Client {
	c, err := blueshift.NewClient("test-key-unused")
	require.NoError(t, err)
	return c
}
