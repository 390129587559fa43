package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Errors Open returns for a table it cannot use.
var (
	// ErrSchemaTooNew means the outbox's tables were created or migrated by
	// a newer version of this package: upgrade the package.
	ErrSchemaTooNew = errors.New("outbox: the outbox tables have a newer schema than this version of the package knows")
	// ErrSchemaCorrupt means the outbox's tables exist but do not have the
	// shape their recorded schema version says.
	ErrSchemaCorrupt = errors.New("outbox: the outbox tables are corrupted")
	// ErrLeaseTooShort means the lease leaves no room for one whole attempt
	// of the client (see WithLease and WithClientTimeout).
	ErrLeaseTooShort = errors.New("outbox: lease too short")
)

// migrations are the schema's versions, in order: migrations[i] takes the
// schema from version i to i+1. Never edit one that has been released;
// append a new one.
var migrations = []string{
	// 1: one row per customer with its latest desired state.
	`CREATE TABLE blueshift_outbox (
		customer_key TEXT PRIMARY KEY,
		email TEXT NOT NULL,
		customer_id TEXT NOT NULL,
		cookie TEXT NOT NULL,
		device_id TEXT NOT NULL,
		state INTEGER NOT NULL,
		version BIGINT NOT NULL,
		delivered_version BIGINT NOT NULL,
		status INTEGER NOT NULL,
		first_pending_at BIGINT NOT NULL,
		next_attempt_at BIGINT NOT NULL,
		attempts INTEGER NOT NULL,
		lease_owner TEXT NOT NULL,
		changed_during_lease_at BIGINT NOT NULL,
		last_error TEXT NOT NULL
	);
	CREATE INDEX blueshift_outbox_due ON blueshift_outbox (next_attempt_at) WHERE status = 1`,
	// 2: delivered customers are forgotten (rows deleted); re-assertion
	// after the late-apply window (settle_at, the last uncertain attempt of
	// each state, the state sent under the current lease, when the settling
	// state's delivery began); dead entries
	// listed in keyset pages by (first_pending_at, customer_key).
	`ALTER TABLE blueshift_outbox ADD COLUMN settle_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE blueshift_outbox ADD COLUMN uncertain_start_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE blueshift_outbox ADD COLUMN uncertain_stop_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE blueshift_outbox ADD COLUMN lease_state INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE blueshift_outbox ADD COLUMN delivered_at BIGINT NOT NULL DEFAULT 0;
	DELETE FROM blueshift_outbox WHERE status = 0;
	CREATE INDEX blueshift_outbox_dead ON blueshift_outbox (first_pending_at, customer_key) WHERE status = 2`,
	// 3: Stats reads exact counts that triggers keep in
	// blueshift_outbox_counts (dialect.counting) instead of the whole
	// table, and the oldest pending change through an index.
	`CREATE TABLE blueshift_outbox_counts (pending BIGINT NOT NULL, settling BIGINT NOT NULL, dead BIGINT NOT NULL);
	CREATE INDEX blueshift_outbox_pending ON blueshift_outbox (first_pending_at) WHERE status = 1 AND settle_at = 0`,
}

// schemaVersion is the version this package writes and reads.
var schemaVersion = len(migrations)

// columnsCheck selects every column the package uses: it fails on a table
// that lacks one.
const columnsCheck = `SELECT customer_key, email, customer_id, cookie, device_id, state, version,
	delivered_version, status, first_pending_at, next_attempt_at, attempts, lease_owner,
	changed_during_lease_at, last_error, settle_at, uncertain_start_at, uncertain_stop_at, lease_state, delivered_at
	FROM blueshift_outbox WHERE 1 = 0`

// migrate brings the schema to schemaVersion in one transaction, refusing
// a newer or corrupted one, and then checks the table's shape.
func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if d.lockSchema != "" {
		if _, err := tx.ExecContext(ctx, d.lockSchema); err != nil {
			return fmt.Errorf("outbox: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS blueshift_outbox_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	current, err := readSchemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if current > schemaVersion {
		return fmt.Errorf("%w (table version %d, package version %d)", ErrSchemaTooNew, current, schemaVersion)
	}
	for v := current; v < schemaVersion; v++ {
		for _, stmt := range append(d.split(migrations[v]), d.migrationExtra(v+1)...) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%w: applying migration %d: %w", ErrSchemaCorrupt, v+1, err)
			}
		}
	}
	if current != schemaVersion {
		if err := writeSchemaVersion(ctx, tx, current); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, columnsCheck); err != nil {
		return fmt.Errorf("%w: table blueshift_outbox: %w", ErrSchemaCorrupt, err)
	}
	var keys int
	if err := tx.QueryRowContext(ctx, d.keysCheck).Scan(&keys); err != nil || keys != 3 {
		return fmt.Errorf("%w: table blueshift_outbox lacks its primary key or its index blueshift_outbox_due or blueshift_outbox_dead", ErrSchemaCorrupt)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate: commit: %w", err)
	}
	return nil
}

// readSchemaVersion reads the single row of blueshift_outbox_schema; no
// row is version 0.
func readSchemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM blueshift_outbox_schema`)
	if err != nil {
		return 0, fmt.Errorf("%w: table blueshift_outbox_schema: %w", ErrSchemaCorrupt, err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v sql.NullInt64
		if err := rows.Scan(&v); err != nil || !v.Valid || v.Int64 < 0 {
			return 0, fmt.Errorf("%w: table blueshift_outbox_schema holds an invalid version", ErrSchemaCorrupt)
		}
		versions = append(versions, int(v.Int64))
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("outbox: read schema version: %w", err)
	}
	switch len(versions) {
	case 0:
		return 0, nil
	case 1:
		return versions[0], nil
	default:
		return 0, fmt.Errorf("%w: table blueshift_outbox_schema has %d rows, want 1", ErrSchemaCorrupt, len(versions))
	}
}

// writeSchemaVersion records schemaVersion, replacing version from.
func writeSchemaVersion(ctx context.Context, tx *sql.Tx, from int) error {
	q := `UPDATE blueshift_outbox_schema SET version = ` + fmt.Sprint(schemaVersion)
	if from == 0 {
		q = `INSERT INTO blueshift_outbox_schema (version) VALUES (` + fmt.Sprint(schemaVersion) + `)`
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("outbox: migrate: record version: %w", err)
	}
	return nil
}
