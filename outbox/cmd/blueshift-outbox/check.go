package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
)

// errNoOutbox means the database given holds no outbox: the command stops
// before outbox.Open, which would create one there.
var errNoOutbox = errors.New("no outbox table")

// checkSQLite makes sure the file at path holds an outbox table, reading
// it through a read-only handle of its own, so that a mistyped path or
// another application's database is reported and left unchanged.
func checkSQLite(ctx context.Context, path string) error {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("cannot read %s as SQLite: %w", path, err)
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'blueshift_outbox'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("cannot read %s as SQLite: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("%w in %s; is the path right?", errNoOutbox, path)
	}
	return nil
}

// checkPostgres makes sure an outbox table is visible in the current
// search_path of db, with one read-only query.
func checkPostgres(ctx context.Context, db *sql.DB) error {
	var found bool
	var path string
	err := db.QueryRowContext(ctx, `SELECT to_regclass('blueshift_outbox') IS NOT NULL, current_setting('search_path')`).Scan(&found, &path)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !found {
		return fmt.Errorf("%w in the database's search_path (%q); is the DSN's dbname or search_path right?", errNoOutbox, path)
	}
	return nil
}
