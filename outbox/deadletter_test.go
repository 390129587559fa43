package outbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestDeadAtAnyScale (issue 15, item 8): Dead yields every dead entry,
// oldest first, across pages; Discard removes one; RetryAll makes the
// rest pending.
func TestDeadAtAnyScale(t *testing.T) {
	const n = 2*deadPage + 37
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			ob := openOutbox(t, newClient(t, newFake(t)), sc.open(t))
			for i := range n {
				require.NoError(t, ob.StopTracking(ctx, blueshift.Customer{Email: fmt.Sprintf("c%04d@example.com", i)}))
			}
			// Give them distinct and equal ages, as a long outage would.
			_, err := ob.db.ExecContext(ctx, `UPDATE blueshift_outbox SET status = 2, first_pending_at = 1000 + (version * 0) + LENGTH(email) % 2`)
			require.NoError(t, err)

			dead := deadList(t, ob)
			require.Len(t, dead, n)
			seen := map[string]bool{}
			for i, e := range dead {
				assert.False(t, seen[e.Customer.Email], "each entry once")
				seen[e.Customer.Email] = true
				if i > 0 {
					assert.False(t, e.Since.Before(dead[i-1].Since), "oldest first")
				}
			}
			for range ob.Dead(ctx) {
				break // stopping early is fine
			}

			first := dead[0].Customer
			require.NoError(t, ob.Discard(ctx, first))
			assert.ErrorIs(t, ob.Discard(ctx, first), ErrNotDead)
			assert.ErrorIs(t, ob.Retry(ctx, first), ErrNotDead, "discarded, not retriable")
			var rows int
			require.NoError(t, ob.db.QueryRowContext(ctx, `SELECT count(*) FROM blueshift_outbox WHERE email = '`+first.Email+`'`).Scan(&rows))
			assert.Zero(t, rows, "Discard removes the identifiers")

			got, err := ob.RetryAll(ctx)
			require.NoError(t, err)
			assert.Equal(t, n-1, got)
			st := stats(t, ob)
			assert.Equal(t, 0, st.Dead)
			assert.Equal(t, n-1, st.Pending)
			got, err = ob.RetryAll(ctx)
			require.NoError(t, err)
			assert.Zero(t, got)
		})
	}
}

// TestDeadUsesItsIndex: the dead-letter pages are read through
// blueshift_outbox_dead, not a scan of the whole table.
func TestDeadUsesItsIndex(t *testing.T) {
	ob := openOutbox(t, newClient(t, newFake(t)), SQLite(filepath.Join(t.TempDir(), "outbox.db")))
	rows, err := ob.db.Query(`EXPLAIN QUERY PLAN `+ob.d.q.listDead, 0, 0, "", deadPage)
	require.NoError(t, err)
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		plan.WriteString(detail + "\n")
	}
	assert.Contains(t, plan.String(), "blueshift_outbox_dead")
}

// TestForgetReallyForgets (issue 15, item 7): once a customer's latest
// state is delivered, the outbox keeps nothing that identifies them; with
// SQLite, not even in the file's free pages after Close. Dead entries keep
// their identifiers until discarded.
func TestForgetReallyForgets(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := newFake(t)
			var path string
			store := sc.open(t)
			if sc.name == "sqlite" {
				path = filepath.Join(t.TempDir(), "outbox.db")
				store = SQLite(path)
			}
			ob, err := Open(ctx, newClient(t, fake), store, fastOptions()...)
			require.NoError(t, err)
			defer ob.Close()
			forgotten := blueshift.Customer{Email: "forget-me@example.com", CustomerID: "cust-8231"}
			refused := blueshift.Customer{Email: "refused@example.com"}
			require.NoError(t, ob.StartTracking(ctx, forgotten))
			require.NoError(t, ob.StopTracking(ctx, forgotten))
			stop := startRun(t, ob)
			drained(t, ob)
			fake.FailNext(1, http.StatusBadRequest)
			require.NoError(t, ob.StopTracking(ctx, refused))
			eventually(t, 5*time.Second, "a dead entry", func() bool { return stats(t, ob).Dead == 1 })
			stop()
			assert.False(t, fake.IsTracked(forgotten))
			assert.GreaterOrEqual(t, stats(t, ob).Delivered, int64(1), "Delivered stays a counter")

			var rows int
			require.NoError(t, ob.db.QueryRowContext(ctx, `SELECT count(*) FROM blueshift_outbox`).Scan(&rows))
			assert.Equal(t, 1, rows, "only the dead entry is kept")
			dead := deadList(t, ob)
			require.Len(t, dead, 1)
			assert.Equal(t, refused, dead[0].Customer, "a dead entry keeps its identifiers, to be retried")
			require.NoError(t, ob.Discard(ctx, refused))
			require.NoError(t, ob.Close())
			if path == "" {
				return
			}
			for _, f := range []string{path, path + "-wal", path + "-journal"} {
				b, err := os.ReadFile(f)
				if os.IsNotExist(err) {
					continue
				}
				require.NoError(t, err)
				for _, id := range []string{forgotten.Email, forgotten.CustomerID, refused.Email} {
					assert.NotContains(t, string(b), id, "%s holds a forgotten identifier", filepath.Base(f))
				}
			}
		})
	}
}

// TestMigrationForgetsDeliveredCustomers: a version-1 table kept a row
// for every delivered customer; migration 2 deletes them and keeps the
// pending and dead ones.
func TestMigrationForgetsDeliveredCustomers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	db := sqliteHandle(t, path)
	v1 := migrations[0] + `; CREATE TABLE blueshift_outbox_schema (version INTEGER NOT NULL); INSERT INTO blueshift_outbox_schema VALUES (1)`
	for _, stmt := range sqliteDialect.split(v1) {
		_, err := db.Exec(stmt)
		require.NoError(t, err)
	}
	for i, status := range []int{0, 1, 2} {
		_, err := db.Exec(`INSERT INTO blueshift_outbox VALUES (?, ?, '', '', '', 1, 1, 0, ?, 1, 1, 0, '', 0, '')`,
			fmt.Sprint("key", i), fmt.Sprintf("v1-%d@example.com", i), status)
		require.NoError(t, err)
	}
	ob := openOutbox(t, newClient(t, newFake(t)), SQLite(path))
	st := stats(t, ob)
	assert.Equal(t, 1, st.Pending)
	assert.Equal(t, 1, st.Dead)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM blueshift_outbox WHERE email = 'v1-0@example.com'`).Scan(&n))
	assert.Zero(t, n, "the delivered customer's row is gone")
	require.NoError(t, db.QueryRow(`SELECT version FROM blueshift_outbox_schema`).Scan(&n))
	assert.Equal(t, schemaVersion, n)
}
