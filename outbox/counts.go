package outbox

import (
	"context"
	"time"
)

// Stats reads exact counts instead of the whole table: triggers keep, in
// blueshift_outbox_counts, how many rows are pending, settling and dead,
// adding each statement's change of these classes. On SQLite, which has
// one writer at a time, the table has one row that a row trigger updates.
// On Postgres a row trigger inserts one row of differences per row whose
// class changed (inserts never wait for each other, so concurrent writers
// and the application's transactions do not queue on a counter), and
// compact folds them into one row now and then, which is exact under any
// concurrency: it deletes the rows its snapshot sees and inserts their sum
// in the same statement.

// countsMigration is the migration that creates blueshift_outbox_counts.
const countsMigration = 3

// compactAbove is how many rows of differences Stats tolerates before it
// compacts them; compactEvery is how often Run compacts.
const (
	compactAbove = 64
	compactEvery = 10 * time.Second
)

// initCounts fills blueshift_outbox_counts from the table, after the
// triggers exist (which, on Postgres, lock the table against writers
// until the migration commits).
const initCounts = `INSERT INTO blueshift_outbox_counts (pending, settling, dead) SELECT
	COALESCE(SUM(CASE WHEN status = 1 AND settle_at = 0 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 1 AND settle_at > 0 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END), 0)
	FROM blueshift_outbox`

// sqliteClass adds (sign +) or subtracts (sign -) the row r's class.
func sqliteClass(sign, r string) string {
	return `pending = pending ` + sign + ` (` + r + `.status = 1 AND ` + r + `.settle_at = 0),
		settling = settling ` + sign + ` (` + r + `.status = 1 AND ` + r + `.settle_at > 0),
		dead = dead ` + sign + ` (` + r + `.status = 2)`
}

var sqliteCounting = []string{
	`CREATE TRIGGER blueshift_outbox_count_insert AFTER INSERT ON blueshift_outbox BEGIN
		UPDATE blueshift_outbox_counts SET ` + sqliteClass("+", "NEW") + `;
	END`,
	`CREATE TRIGGER blueshift_outbox_count_update AFTER UPDATE OF status, settle_at ON blueshift_outbox
	WHEN OLD.status IS NOT NEW.status OR (OLD.settle_at = 0) IS NOT (NEW.settle_at = 0) OR (OLD.settle_at > 0) IS NOT (NEW.settle_at > 0) BEGIN
		UPDATE blueshift_outbox_counts SET pending = pending + (NEW.status = 1 AND NEW.settle_at = 0) - (OLD.status = 1 AND OLD.settle_at = 0),
			settling = settling + (NEW.status = 1 AND NEW.settle_at > 0) - (OLD.status = 1 AND OLD.settle_at > 0),
			dead = dead + (NEW.status = 2) - (OLD.status = 2);
	END`,
	`CREATE TRIGGER blueshift_outbox_count_delete AFTER DELETE ON blueshift_outbox BEGIN
		UPDATE blueshift_outbox_counts SET ` + sqliteClass("-", "OLD") + `;
	END`,
	initCounts,
}

// postgresCounting's function finds blueshift_outbox_counts through the
// session's search_path, as every statement of the outbox finds its table
// (a SET search_path clause on the function doubled a record's latency).
// Row triggers: most statements change one row, and an update that
// changes no row's class (a claim, a retry, an upsert of a pending
// customer) is skipped by the WHEN clause without calling the function.
var postgresCounting = []string{
	`CREATE FUNCTION blueshift_outbox_count() RETURNS trigger LANGUAGE plpgsql AS $$
	DECLARE
		d_pending INTEGER := 0;
		d_settling INTEGER := 0;
		d_dead INTEGER := 0;
	BEGIN
		IF TG_OP <> 'DELETE' THEN
			d_pending := (NEW.status = 1 AND NEW.settle_at = 0)::INTEGER;
			d_settling := (NEW.status = 1 AND NEW.settle_at > 0)::INTEGER;
			d_dead := (NEW.status = 2)::INTEGER;
		END IF;
		IF TG_OP <> 'INSERT' THEN
			d_pending := d_pending - (OLD.status = 1 AND OLD.settle_at = 0)::INTEGER;
			d_settling := d_settling - (OLD.status = 1 AND OLD.settle_at > 0)::INTEGER;
			d_dead := d_dead - (OLD.status = 2)::INTEGER;
		END IF;
		IF d_pending <> 0 OR d_settling <> 0 OR d_dead <> 0 THEN
			INSERT INTO blueshift_outbox_counts (pending, settling, dead) VALUES (d_pending, d_settling, d_dead);
		END IF;
		RETURN NULL;
	END $$`,
	`CREATE TRIGGER blueshift_outbox_count_insert AFTER INSERT ON blueshift_outbox
		FOR EACH ROW EXECUTE FUNCTION blueshift_outbox_count()`,
	`CREATE TRIGGER blueshift_outbox_count_update AFTER UPDATE OF status, settle_at ON blueshift_outbox
		FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR (OLD.settle_at = 0) IS DISTINCT FROM (NEW.settle_at = 0)
			OR (OLD.settle_at > 0) IS DISTINCT FROM (NEW.settle_at > 0))
		EXECUTE FUNCTION blueshift_outbox_count()`,
	`CREATE TRIGGER blueshift_outbox_count_delete AFTER DELETE ON blueshift_outbox
		FOR EACH ROW EXECUTE FUNCTION blueshift_outbox_count()`,
	initCounts,
}

// compactCounts folds the rows of differences into one.
const compactCounts = `WITH gone AS (DELETE FROM blueshift_outbox_counts RETURNING pending, settling, dead)
	INSERT INTO blueshift_outbox_counts (pending, settling, dead)
	SELECT SUM(pending), SUM(settling), SUM(dead) FROM gone HAVING COUNT(*) > 0`

// migrationExtra returns the dialect's own statements of migration v.
func (d *dialect) migrationExtra(v int) []string {
	if v == countsMigration {
		return d.counting
	}
	return nil
}

// compact folds the counts' rows into one, at most every compactEvery
// unless force; a failure is left for the next time (the counts stay
// exact, only Stats reads a few more rows).
func (o *Outbox) compact(ctx context.Context, force bool) {
	if o.d.q.compact == "" {
		return
	}
	now := time.Now().UnixNano()
	prev := o.compacted.Load()
	if !force && now-prev < int64(compactEvery) || !o.compacted.CompareAndSwap(prev, now) {
		return
	}
	if _, err := o.db.ExecContext(ctx, o.d.q.compact); err != nil && ctx.Err() == nil {
		o.s.logger.Debug("outbox: compacting the counts failed; will retry", "error", err)
	}
}
