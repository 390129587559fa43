package outbox

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// TestInvalidIdentifiers: refused at record time with the core's errors,
// nothing stored.
func TestInvalidIdentifiers(t *testing.T) {
	fake := newFake(t)
	for _, sc := range txStores(t) {
		db, store := sc.open(t)
		ob := openOutbox(t, newClient(t, fake), store)
		for _, tc := range []struct {
			name     string
			customer blueshift.Customer
			want     error
		}{
			{"no identifier", blueshift.Customer{}, blueshift.ErrMissingIdentifier},
			{"blank identifiers", blueshift.Customer{Email: " \u200b", CustomerID: "\t"}, blueshift.ErrMissingIdentifier},
			{"control character", blueshift.Customer{Email: "ann\x00@example.com"}, blueshift.ErrInvalidIdentifier},
			{"invalid UTF-8", blueshift.Customer{CustomerID: "\xff"}, blueshift.ErrInvalidIdentifier},
			{"too long", blueshift.Customer{Cookie: strings.Repeat("a", blueshift.MaxIdentifierBytes+1)}, blueshift.ErrInvalidIdentifier},
		} {
			t.Run(sc.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				assert.ErrorIs(t, ob.StartTracking(ctx, tc.customer), tc.want)
				assert.ErrorIs(t, ob.StopTracking(ctx, tc.customer), tc.want)
				tx, err := db.Begin()
				require.NoError(t, err)
				assert.ErrorIs(t, ob.StartTrackingTx(ctx, tx, tc.customer), tc.want)
				require.NoError(t, tx.Commit())
				assert.Equal(t, 0, stats(t, ob).Pending)
			})
		}
	}
}

// TestUnwritableDatabase: while the database refuses writes, record calls
// return an error and Run keeps retrying; once it accepts them again,
// everything is delivered.
func TestUnwritableDatabase(t *testing.T) {
	fake := newFake(t)
	db := sqliteHandle(t, filepath.Join(t.TempDir(), "app.db"))
	db.SetMaxOpenConns(1) // so that the pragma below applies to every statement
	ob := openOutbox(t, newClient(t, fake), SQLiteDB(db))
	ctx := context.Background()
	require.NoError(t, ob.StartTracking(ctx, ann))
	_, err := db.Exec(`PRAGMA query_only = ON`)
	require.NoError(t, err)

	bob := blueshift.Customer{Email: "bob@example.com"}
	err = ob.StartTracking(ctx, bob)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "outbox: record change")
	startRun(t, ob)
	time.Sleep(200 * time.Millisecond) // Run's claims fail meanwhile
	assert.Empty(t, fake.Requests())

	_, err = db.Exec(`PRAGMA query_only = OFF`)
	require.NoError(t, err)
	drained(t, ob)
	assert.True(t, fake.IsTracked(ann))
	assert.False(t, fake.IsTracked(bob), "the refused change was not stored")
}

// TestClosedDatabase: a record call on a closed handle returns an error.
func TestClosedDatabase(t *testing.T) {
	fake := newFake(t)
	db := sqliteHandle(t, filepath.Join(t.TempDir(), "app.db"))
	ob := openOutbox(t, newClient(t, fake), SQLiteDB(db))
	require.NoError(t, db.Close())
	assert.ErrorContains(t, ob.StartTracking(context.Background(), ann), "database is closed")
	require.NoError(t, ob.Close())
	assert.ErrorIs(t, ob.StopTracking(context.Background(), ann), ErrClosed)
	assert.ErrorIs(t, ob.Run(context.Background()), ErrClosed)
}

// TestTransactional: a change recorded in a rolled-back transaction is not
// recorded; a committed one is, with the application's own row.
func TestTransactional(t *testing.T) {
	for _, sc := range txStores(t) {
		t.Run(sc.name, func(t *testing.T) {
			fake := newFake(t)
			db, store := sc.open(t)
			ob := openOutbox(t, newClient(t, fake), store)
			ctx := context.Background()
			_, err := db.Exec(`CREATE TABLE consent (email TEXT PRIMARY KEY, granted BOOLEAN NOT NULL)`)
			require.NoError(t, err)
			bob := blueshift.Customer{Email: "bob@example.com"}

			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.Exec(sc.rebind(`INSERT INTO consent (email, granted) VALUES (?, ?)`), ann.Email, true)
			require.NoError(t, err)
			require.NoError(t, ob.StartTrackingTx(ctx, tx, ann))
			require.NoError(t, tx.Rollback())
			assert.Equal(t, 0, stats(t, ob).Pending, "rolled back: nothing recorded")

			tx, err = db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.Exec(sc.rebind(`INSERT INTO consent (email, granted) VALUES (?, ?)`), bob.Email, false)
			require.NoError(t, err)
			require.NoError(t, ob.StopTrackingTx(ctx, tx, bob))
			require.NoError(t, tx.Commit())
			assert.Equal(t, 1, stats(t, ob).Pending)

			startRun(t, ob)
			drained(t, ob)
			assert.Equal(t, []string{blueshifttest.StopTrackingPath}, paths(fake))
			assert.ErrorContains(t, ob.StartTrackingTx(ctx, nil, ann), "nil *sql.Tx")
		})
	}
}

// txStore is a store on a handle the test also writes to.
type txStore struct {
	name   string
	open   func(t testing.TB) (*sql.DB, Store)
	rebind func(string) string
}

func txStores(t testing.TB) []txStore {
	out := []txStore{{"sqlite", func(t testing.TB) (*sql.DB, Store) {
		db := sqliteHandle(t, filepath.Join(t.TempDir(), "app.db"))
		return db, SQLiteDB(db)
	}, sqliteDialect.sql}}
	if dsn := postgresDSN(t, false); dsn != "" {
		out = append(out, txStore{"postgres", func(t testing.TB) (*sql.DB, Store) {
			db, _ := freshPostgres(t, dsn)
			return db, Postgres(db)
		}, postgresDialect.sql})
	}
	return out
}

// sqliteHandle opens path with the DSN the README recommends.
func sqliteHandle(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSchema: Open creates, re-opens, and refuses newer or corrupted tables.
func TestSchema(t *testing.T) {
	fake := newFake(t)
	client := newClient(t, fake)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup string
		want  error
	}{
		{"fresh", ``, nil},
		{"newer schema", `CREATE TABLE blueshift_outbox_schema (version INTEGER NOT NULL); INSERT INTO blueshift_outbox_schema VALUES (99)`, ErrSchemaTooNew},
		{"version is not a number", `CREATE TABLE blueshift_outbox_schema (version TEXT); INSERT INTO blueshift_outbox_schema VALUES ('x')`, ErrSchemaCorrupt},
		{"two versions", `CREATE TABLE blueshift_outbox_schema (version INTEGER NOT NULL); INSERT INTO blueshift_outbox_schema VALUES (1); INSERT INTO blueshift_outbox_schema VALUES (1)`, ErrSchemaCorrupt},
		{"table missing columns", `CREATE TABLE blueshift_outbox_schema (version INTEGER NOT NULL); INSERT INTO blueshift_outbox_schema VALUES (1); CREATE TABLE blueshift_outbox (customer_key TEXT)`, ErrSchemaCorrupt},
		{"foreign table of that name", `CREATE TABLE blueshift_outbox (id INTEGER)`, ErrSchemaCorrupt},
		{"due index dropped", migrations[0] + `; CREATE TABLE blueshift_outbox_schema (version INTEGER NOT NULL); INSERT INTO blueshift_outbox_schema VALUES (1); DROP INDEX blueshift_outbox_due`, ErrSchemaCorrupt},
		{"primary key missing", strings.Replace(migrations[0], "customer_key TEXT PRIMARY KEY", "customer_key TEXT", 1) + `; CREATE TABLE blueshift_outbox_schema (version INTEGER NOT NULL); INSERT INTO blueshift_outbox_schema VALUES (1)`, ErrSchemaCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			db := sqliteHandle(t, path)
			for _, stmt := range sqliteDialect.split(tc.setup) {
				_, err := db.Exec(stmt)
				require.NoError(t, err)
			}
			ob, err := Open(ctx, client, SQLite(path))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.Nil(t, ob)
				return
			}
			require.NoError(t, err)
			require.NoError(t, ob.StartTracking(ctx, ann))
			require.NoError(t, ob.Close())
			ob, err = Open(ctx, client, SQLite(path)) // re-open: already migrated
			require.NoError(t, err)
			assert.Equal(t, 1, stats(t, ob).Pending)
			require.NoError(t, ob.Close())
		})
	}
	t.Run("not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("not sqlite\n", 1000)), 0o600))
		_, err := Open(ctx, client, SQLite(path))
		assert.ErrorContains(t, err, "not a database")
	})
	t.Run("handle without busy timeout", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "outbox.db"))
		require.NoError(t, err)
		defer db.Close()
		_, err = Open(ctx, client, SQLiteDB(db))
		assert.ErrorContains(t, err, "busy timeout")
	})
}

// TestOptions: each option refuses bad input, and Open refuses a lease too
// short for the client.
func TestOptions(t *testing.T) {
	fake := newFake(t)
	client := newClient(t, fake)
	store := SQLite(filepath.Join(t.TempDir(), "outbox.db"))
	for _, tc := range []struct {
		name string
		opt  Option
		want string
	}{
		{"backoff min 0", WithBackoff(0, time.Second), "backoff"},
		{"backoff max < min", WithBackoff(time.Second, time.Millisecond), "backoff"},
		{"max age 0", WithMaxAge(0), "max age"},
		{"lease 0", WithLease(0), "lease"},
		{"concurrency 0", WithConcurrency(0), "concurrency"},
		{"concurrency too high", WithConcurrency(5000), "concurrency"},
		{"nil logger", WithLogger(nil), "Logger"},
		{"client timeout 0", WithClientTimeout(0), "client timeout"},
		{"poll interval 0", WithPollInterval(0), "poll interval"},
		{"lease under twice the default client timeout", WithLease(59 * time.Second), "lease too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob, err := Open(context.Background(), client, store, tc.opt)
			assert.ErrorContains(t, err, tc.want)
			assert.Nil(t, ob)
		})
	}
	_, err := Open(context.Background(), client, store, WithLease(time.Second), WithClientTimeout(time.Second))
	assert.ErrorIs(t, err, ErrLeaseTooShort)
	// A lease under 1 s is refused whatever the client timeout: one under
	// 1 ms was stored as 0 ms, due again at once (issue 15, item 9).
	for _, lease := range []time.Duration{500 * time.Microsecond, 999 * time.Millisecond} {
		ob, err := Open(context.Background(), client, store, WithLease(lease), WithClientTimeout(lease/4))
		assert.ErrorIs(t, err, ErrLeaseTooShort, "lease %v", lease)
		assert.Nil(t, ob)
	}
	_, err = Open(context.Background(), nil, store)
	assert.ErrorContains(t, err, "nil *blueshift.Client")
	ob, err := Open(context.Background(), client, store) // the defaults are valid
	require.NoError(t, err)
	require.NoError(t, ob.Close())
}
