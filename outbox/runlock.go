package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// lockRun makes this Run the only deliverer of a SQLite file: it holds an
// OS lock on a file beside the database (path + "-deliver.lock") while it
// delivers, waiting while another Run, in this process or another, holds
// it. Once it has the lock, no live Run holds a lease, so it takes over
// every lease left (by a killed process) at once. The OS drops the lock
// when its process dies. It returns the function that releases the lock,
// or an error when ctx ended first or the lock file cannot be opened. Postgres needs none of this.
func (o *Outbox) lockRun(ctx context.Context) (unlock func(), err error) {
	if !o.d.singleDeliverer {
		return func() {}, nil
	}
	path, err := sqliteMainFile(ctx, o.db)
	if err != nil {
		return nil, err
	}
	unlock = func() {}
	if path != "" { // an in-memory database has a single handle anyway
		waited := false
		for {
			unlock, err = lockFile(path + "-deliver.lock")
			if err == nil {
				break
			}
			if err != errLocked {
				return nil, err
			}
			if !waited {
				o.s.logger.Info("outbox: another Run delivers from this SQLite file; waiting for it to stop")
				waited = true
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(o.s.pollInterval):
			}
		}
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, dbTimeout)
		_, err := o.db.ExecContext(rctx, o.d.q.reclaim)
		cancel()
		if err == nil {
			return unlock, nil
		}
		if ctx.Err() != nil {
			unlock()
			return nil, ctx.Err()
		}
		o.s.logger.Warn("outbox: taking over leftover leases failed; retrying", "error", err, "retry_in", o.s.pollInterval)
		o.sleep(ctx, o.s.pollInterval, false)
	}
}

// sqliteMainFile returns the path of the handle's main database file, ""
// for an in-memory database.
func sqliteMainFile(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return "", fmt.Errorf("outbox: sqlite: database_list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", fmt.Errorf("outbox: sqlite: database_list: %w", err)
		}
		if name == "main" {
			return file, nil
		}
	}
	return "", rows.Err()
}
