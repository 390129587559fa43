package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/outbox"
)

// TestStatsTextAge: the text of stats shows an oldest pending age under a
// second in milliseconds (it printed "0s" while changes were pending, when
// --json said 0.32), and longer ones rounded to the second.
func TestStatsTextAge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := outbox.Open(ctx, mustClient(t), outbox.SQLite(path))
	require.NoError(t, err)
	require.NoError(t, ob.StartTracking(ctx, blueshift.Customer{Email: "a@example.com"}))
	require.NoError(t, ob.StopTracking(ctx, blueshift.Customer{Email: "b@example.com"}))
	require.NoError(t, ob.Close())

	r := runCmd(t, "", "stats", "--sqlite", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	// Under load the age may pass a second; it is never "0s" with 2 pending.
	assert.Regexp(t, regexp.MustCompile(`(?m)^oldest pending: ([1-9][0-9]{0,2}ms|[1-9][0-9]*s)$`), r.stdout)
	assert.Contains(t, r.stdout, "pending:        2\n")

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE blueshift_outbox SET first_pending_at = ?`, time.Now().Add(-95*time.Second).UnixMilli())
	require.NoError(t, err)
	r = runCmd(t, "", "stats", "--sqlite", path)
	assert.Contains(t, r.stdout, "oldest pending: 1m35s\n")
}
