package outbox

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// scanStats is what Stats read before the counts existed: the whole
// table. The tests hold the counts to it; the benchmark compares both.
const scanStats = `SELECT
	COALESCE(SUM(CASE WHEN status = 1 AND settle_at = 0 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 1 AND settle_at > 0 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END), 0),
	COALESCE(MIN(CASE WHEN status = 1 AND settle_at = 0 THEN first_pending_at END), 0)
	FROM blueshift_outbox`

// assertCountsExact checks Stats against a scan of the whole table.
func assertCountsExact(t *testing.T, ob *Outbox, when string) Stats {
	t.Helper()
	var pending, settling, dead int
	var oldest int64
	require.NoError(t, ob.db.QueryRow(scanStats).Scan(&pending, &settling, &dead, &oldest))
	st := stats(t, ob)
	assert.Equal(t, [3]int{pending, settling, dead}, [3]int{st.Pending, st.Settling, st.Dead}, "%s: pending, settling, dead", when)
	return st
}

// TestStatsCountsAreExact (issue 19, item 3): the counts the triggers keep
// equal a scan of the table through recording, delivery, retries, dead
// entries, settling, Retry, RetryAll, Discard and compaction, on both
// stores.
func TestStatsCountsAreExact(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake), sc.open(t), WithMaxAge(time.Hour))
			customer := func(i int) blueshift.Customer {
				return blueshift.Customer{Email: fmt.Sprintf("count-%d@example.com", i)}
			}
			for i := range 40 {
				require.NoError(t, record(ctx, ob, customer(i), i%2 == 0))
				require.NoError(t, record(ctx, ob, customer(i/2), i%3 == 0)) // upserts
			}
			st := assertCountsExact(t, ob, "recorded")
			assert.Equal(t, 40, st.Pending)
			assert.Positive(t, st.OldestPending)

			fake.FailNext(10, http.StatusBadRequest) // 10 dead at once
			stop := startRun(t, ob)
			eventually(t, 20*time.Second, "delivery", func() bool {
				st := stats(t, ob)
				return st.Pending == 0 && st.Settling == 0
			})
			stop()
			st = assertCountsExact(t, ob, "delivered")
			assert.Equal(t, 10, st.Dead)
			assert.Zero(t, st.OldestPending)

			dead := deadList(t, ob)
			require.Len(t, dead, 10)
			require.NoError(t, ob.Discard(ctx, dead[0].Customer))
			require.NoError(t, ob.Retry(ctx, dead[1].Customer))
			assertCountsExact(t, ob, "discarded one, retried one")
			n, err := ob.RetryAll(ctx)
			require.NoError(t, err)
			assert.Equal(t, 8, n)
			_, err = ob.db.ExecContext(ctx, `UPDATE blueshift_outbox SET settle_at = 5 WHERE email LIKE '%1@example.com'`)
			require.NoError(t, err)
			st = assertCountsExact(t, ob, "retried all, some settling")
			assert.Equal(t, 0, st.Dead)
			assert.Positive(t, st.Settling)

			ob.compact(ctx, true)
			assertCountsExact(t, ob, "compacted")
			var rows int
			require.NoError(t, ob.db.QueryRow(`SELECT count(*) FROM blueshift_outbox_counts`).Scan(&rows))
			assert.Equal(t, 1, rows, "one row of counts after compaction")
		})
	}
}

// TestCountsFilledByMigration: a table of schema version 2 with rows gets
// exact counts when migrated.
func TestCountsFilledByMigration(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			ob := openOutbox(t, newClient(t, newFake(t)), sc.open(t))
			for i := range 7 {
				require.NoError(t, ob.StartTracking(ctx, blueshift.Customer{Email: fmt.Sprintf("m-%d@example.com", i)}))
			}
			_, err := ob.db.ExecContext(ctx, `UPDATE blueshift_outbox SET status = 2 WHERE email = 'm-0@example.com'`)
			require.NoError(t, err)
			// Back to schema 2, as an older package left it.
			for _, stmt := range []string{`DROP TRIGGER blueshift_outbox_count_insert` + onTable(ob), `DROP TRIGGER blueshift_outbox_count_update` + onTable(ob),
				`DROP TRIGGER blueshift_outbox_count_delete` + onTable(ob), `DROP TABLE blueshift_outbox_counts`, `DROP INDEX blueshift_outbox_pending`,
				`UPDATE blueshift_outbox_schema SET version = 2`} {
				_, err := ob.db.ExecContext(ctx, stmt)
				require.NoError(t, err, stmt)
			}
			if ob.d.dollar {
				_, err := ob.db.ExecContext(ctx, `DROP FUNCTION blueshift_outbox_count()`)
				require.NoError(t, err)
			}
			require.NoError(t, migrate(ctx, ob.db, ob.d))
			st := assertCountsExact(t, ob, "migrated")
			assert.Equal(t, 6, st.Pending)
			assert.Equal(t, 1, st.Dead)
		})
	}
}

// onTable completes DROP TRIGGER for Postgres, which names the table.
func onTable(ob *Outbox) string {
	if ob.d.dollar {
		return ` ON blueshift_outbox`
	}
	return ""
}
