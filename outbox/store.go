package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"
)

// Store is where an Outbox keeps its table: SQLite, SQLiteDB or Postgres.
type Store interface {
	// open returns the handle, its dialect, and whether Close closes it.
	open(ctx context.Context) (db *sql.DB, d *dialect, owned bool, err error)
}

// SQLiteBusyTimeoutMillis is the busy timeout SQLite sets on the handles
// it opens: how long a write waits for another writer before failing.
const SQLiteBusyTimeoutMillis = 10000

// SQLite is the embedded store: a SQLite database file at path (created if
// missing), through the pure-Go driver modernc.org/sqlite, in WAL mode
// with synchronous=FULL, secure_delete on (deleted rows are overwritten in
// the file) and a busy timeout of SQLiteBusyTimeoutMillis. One Run at a
// time delivers from a file: it holds an OS lock on path+"-deliver.lock",
// and a second Run, in this process or another, waits for it; once it has
// the lock it takes over, at once, the leases a killed predecessor left.
// Any number of Outboxes, in any process, may open the file beside a live
// Run to record changes or call Stats, Dead, Retry, RetryAll and Discard.
// Close closes the file.
func SQLite(path string) Store { return sqliteStore{path: path} }

// SQLiteDB is the embedded store on the application's own handle, opened
// with driver "sqlite" (modernc.org/sqlite), so that StartTrackingTx and
// StopTrackingTx join the application's transactions. Open it with a DSN
// such as
//
//	file:app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_txlock=immediate
//
// (secure_delete makes SQLite overwrite the rows of delivered customers,
// which the outbox deletes). Open refuses a handle without a busy timeout.
// Run holds the same file lock as with SQLite. Close leaves db open.
func SQLiteDB(db *sql.DB) Store { return sqliteStore{db: db} }

// Postgres is the store for services with many replicas, on the
// application's handle opened with pgx's database/sql driver ("pgx",
// github.com/jackc/pgx/v5/stdlib). Any number of processes may run Run on
// one database; they claim work with FOR UPDATE SKIP LOCKED and lease it
// by the database's clock. Close leaves db open.
func Postgres(db *sql.DB) Store { return postgresStore{db: db} }

type sqliteStore struct {
	path string
	db   *sql.DB
}

func (s sqliteStore) open(ctx context.Context) (*sql.DB, *dialect, bool, error) {
	if s.db != nil {
		var timeout int
		if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil {
			return nil, nil, false, fmt.Errorf("outbox: sqlite: %w", err)
		}
		if timeout <= 0 {
			return nil, nil, false, errors.New("outbox: sqlite: the handle has no busy timeout; open it with _pragma=busy_timeout(10000) in the DSN")
		}
		return s.db, sqliteDialect, false, nil
	}
	if s.path == "" {
		return nil, nil, false, errors.New("outbox: sqlite: empty path")
	}
	db, err := sql.Open("sqlite", sqliteDSN(s.path))
	if err != nil {
		return nil, nil, false, fmt.Errorf("outbox: sqlite: %w", err)
	}
	// One connection: SQLite has one writer at a time anyway, and writers
	// queueing in database/sql wait less than in SQLite's busy handler,
	// which sleeps up to 100 ms between tries.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, false, fmt.Errorf("outbox: sqlite: %w", err)
	}
	return db, sqliteDialect, true, nil
}

// sqliteDSN is the DSN SQLite(path) opens.
func sqliteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + fmt.Sprintf(
		"?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_txlock=immediate", SQLiteBusyTimeoutMillis)
}

type postgresStore struct{ db *sql.DB }

func (s postgresStore) open(context.Context) (*sql.DB, *dialect, bool, error) {
	if s.db == nil {
		return nil, nil, false, errors.New("outbox: postgres: nil *sql.DB")
	}
	return s.db, postgresDialect, false, nil
}

// dialect holds what differs between the databases.
type dialect struct {
	name string
	// now is the database clock in Unix milliseconds.
	now string
	// lockSchema serializes migrations between processes, if needed.
	lockSchema string
	// dollar means placeholders are $1, $2, … instead of ?.
	dollar bool
	// singleDeliverer makes Run hold an OS file lock, so that one Run
	// delivers at a time and takes over every lease once it has the lock.
	singleDeliverer bool
	// keysCheck counts the table's primary key and due index: 2 when
	// both are there.
	keysCheck string
	// counting creates the triggers that keep blueshift_outbox_counts
	// (migration countsMigration) and fills it.
	counting []string
	q        queries
}

var (
	sqliteDialect = newDialect(&dialect{
		name:            "sqlite",
		now:             `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`,
		singleDeliverer: true,
		counting:        sqliteCounting,
		keysCheck: `SELECT (SELECT count(*) FROM pragma_index_list('blueshift_outbox') WHERE origin = 'pk')
			+ (SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'blueshift_outbox' AND name IN ('blueshift_outbox_due', 'blueshift_outbox_dead'))`,
	})
	postgresDialect = newDialect(&dialect{
		name:       "postgres",
		now:        `CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)`,
		lockSchema: `SELECT pg_advisory_xact_lock(7238151163024101989)`,
		dollar:     true,
		counting:   postgresCounting,
		keysCheck: `SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass('blueshift_outbox') AND contype = 'p')
			+ (SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'blueshift_outbox' AND indexname IN ('blueshift_outbox_due', 'blueshift_outbox_dead'))`,
	})
)

// newDialect builds d's queries from the shared templates.
func newDialect(d *dialect) *dialect {
	claim := sqliteClaim
	if d.dollar {
		claim = postgresClaim
	}
	d.q = buildQueries(d.sql, d.sql(claim))
	if d.dollar {
		d.q.compact = compactCounts
	}
	return d
}

// sql rewrites a query template for d: {now} becomes the clock
// expression, and ? placeholders become
// $n where needed.
func (d *dialect) sql(tmpl string) string {
	s := strings.ReplaceAll(tmpl, "{now}", d.now)
	if !d.dollar {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// split cuts a migration into statements (none holds a semicolon inside).
func (d *dialect) split(migration string) []string {
	var out []string
	for _, s := range strings.Split(migration, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
