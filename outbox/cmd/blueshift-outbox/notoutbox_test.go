package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotAnOutboxIsAnError: pointed at a database that holds no outbox
// (another application's SQLite file, an empty file, a file that is not
// SQLite, a Postgres search_path with a typo), every command exits 1 with
// a message naming the cause, and the database is left exactly as it was.
// Before, Open created the outbox's tables there and stats printed zeros.
func TestNotAnOutboxIsAnError(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", app)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("not a database, just some text that is long enough\n"), 0o600))

	for _, path := range []string{app, empty, text} {
		t.Run("sqlite "+filepath.Base(path), func(t *testing.T) {
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			for _, args := range [][]string{{"stats"}, {"dead"}, {"retry", "--all"}, {"discard", "--email", "a@example.com", "--yes"}} {
				r := runCmd(t, "", append(args, "--sqlite", path)...)
				assert.Equal(t, exitFailed, r.code, r.stderr)
				assert.Contains(t, r.stderr, "blueshift-outbox "+args[0]+": ")
				assert.Contains(t, r.stderr, path)
				assert.Empty(t, r.stdout)
			}
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the file is unchanged")
			for _, suffix := range []string{"-wal", "-shm", "-journal", "-deliver.lock"} {
				_, err := os.Stat(path + suffix)
				assert.True(t, os.IsNotExist(err), "%s%s was created", filepath.Base(path), suffix)
			}
		})
	}
	r := runCmd(t, "", "stats", "--sqlite", app)
	assert.Contains(t, r.stderr, "no outbox table in "+app+"; is the path right?")

	dsn := os.Getenv("BLUESHIFT_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Log("BLUESHIFT_TEST_POSTGRES_DSN is not set: Postgres skipped")
		return
	}
	t.Run("postgres search_path typo", func(t *testing.T) {
		schema := fmt.Sprintf("outbox_cmd_typo_%d", rand.Uint64())
		admin, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		defer admin.Close()
		_, err = admin.Exec("CREATE SCHEMA " + schema)
		require.NoError(t, err)
		defer admin.Exec("DROP SCHEMA " + schema + " CASCADE") //nolint:errcheck // cleanup
		r := runCmd(t, "", "stats", "--postgres", dsn+" search_path="+schema)
		assert.Equal(t, exitFailed, r.code, r.stderr)
		assert.Contains(t, r.stderr, "no outbox table")
		assert.Contains(t, r.stderr, "search_path")
		var n int
		require.NoError(t, admin.QueryRowContext(context.Background(),
			`SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1)
			+ (SELECT count(*) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = $1)`, schema).Scan(&n))
		assert.Zero(t, n, "nothing was created in the schema")
	})
}
