package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// checkpointBusyMillis is how long a checkpoint waits for readers of an
// older snapshot before it gives up (and logs that it did).
const checkpointBusyMillis = 1000

// checkpoint moves every page of the SQLite WAL into the database file
// and truncates the WAL (PRAGMA wal_checkpoint(TRUNCATE)), so that the
// rows secure_delete overwrote reach the file and no older copy of them
// stays in the WAL. A reader inside a transaction on an older snapshot
// blocks it: then it logs a warning, and what the WAL still holds goes at
// the next checkpoint that completes (see docs/outbox.md). It does nothing
// on Postgres.
func (o *Outbox) checkpoint(ctx context.Context) {
	if o.d != sqliteDialect {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	busy, err := walCheckpoint(ctx, o.db)
	switch {
	case err != nil:
		o.s.logger.Warn("outbox: sqlite checkpoint failed; the WAL may keep deleted rows until the next checkpoint", "error", err)
	case busy:
		o.s.logger.Warn("outbox: sqlite checkpoint blocked by a reader in an open transaction; the WAL keeps deleted rows until a later checkpoint completes")
	}
}

// checkpointEvery is how often at most an idle Run checkpoints after it
// delivered: delivered customers leave the WAL within about this long of
// the queue running empty, not only when Run returns.
const checkpointEvery = 30 * time.Second

// checkpointIfDue checkpoints, from Run's loop when it found no more due
// work, if customers were delivered since the last checkpoint and the
// last one is at least o.checkpointEvery ago. A blocked one is logged at
// debug level only: it is tried again at the next interval.
func (o *Outbox) checkpointIfDue(ctx context.Context) {
	n := o.delivered.Load()
	if o.d != sqliteDialect || n == o.ckpt.delivered || time.Since(o.ckpt.at) < o.checkpointEvery {
		return
	}
	o.ckpt.delivered, o.ckpt.at = n, time.Now()
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if busy, err := walCheckpoint(ctx, o.db); err != nil || busy {
		o.ckpt.delivered = -1 // try again at the next interval
		o.s.logger.Debug("outbox: periodic sqlite checkpoint incomplete; retrying later", "busy", busy, "error", err)
	}
}

// walCheckpoint runs PRAGMA wal_checkpoint(TRUNCATE) on one connection of
// db, waiting at most checkpointBusyMillis for readers, and reports
// whether a reader or writer kept it from completing.
func walCheckpoint(ctx context.Context, db *sql.DB) (busy bool, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var timeout int
	if err := conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil {
		return false, err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, min(timeout, checkpointBusyMillis))); err != nil {
		return false, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, timeout)) //nolint:errcheck // best effort
	var blocked, logFrames, moved int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&blocked, &logFrames, &moved); err != nil {
		return false, err
	}
	return blocked != 0 || logFrames != moved, nil
}
