package outbox

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestForgetReallyForgetsBesideAnotherOpener (review of issue 15, item 7):
// the file holds no delivered customer's identifiers after Close even
// while another handle (another process, an operator tool) keeps the file
// open, idle: Close checkpoints the WAL into the file and truncates it.
// Before, o.db and o.db-wal kept the identifiers until the last handle
// closed.
func TestForgetReallyForgetsBesideAnotherOpener(t *testing.T) {
	ctx := context.Background()
	fake := newFake(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := Open(ctx, newClient(t, fake), SQLite(path), fastOptions()...)
	require.NoError(t, err)
	defer ob.Close()

	other := sqliteHandle(t, path) // stays open, idle, until the test ends
	var n int
	require.NoError(t, other.QueryRowContext(ctx, `SELECT count(*) FROM blueshift_outbox`).Scan(&n))

	var customers []blueshift.Customer
	for i := range 100 {
		c := blueshift.Customer{Email: fmt.Sprintf("forgetme%03d@example.com", i)}
		customers = append(customers, c)
		require.NoError(t, ob.StopTracking(ctx, c))
	}
	stop := startRun(t, ob)
	drained(t, ob)
	stop()
	require.NoError(t, ob.Close())

	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		found := 0
		for _, c := range customers {
			if strings.Contains(string(b), c.Email) {
				found++
			}
		}
		assert.Zero(t, found, "%s holds %d delivered customers' emails after Close", filepath.Base(f), found)
	}
	require.NoError(t, other.QueryRowContext(ctx, `SELECT count(*) FROM blueshift_outbox`).Scan(&n))
	assert.Zero(t, n, "the other handle still reads the file")
}

// TestForgetBesideAnOpenReadTransaction: a reader inside a transaction on
// an older snapshot keeps Close's checkpoint from completing; Close logs
// it, and the next checkpoint after the reader's transaction ends (here
// the next Outbox's Close) leaves the file clean.
func TestForgetBesideAnOpenReadTransaction(t *testing.T) {
	ctx := context.Background()
	fake := newFake(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	logs := &syncBuffer{}
	opts := append(fastOptions(), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	ob, err := Open(ctx, newClient(t, fake), SQLite(path), opts...)
	require.NoError(t, err)
	defer ob.Close()

	other := sqliteHandle(t, path)
	tx, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	var n int
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM blueshift_outbox`).Scan(&n))

	c := blueshift.Customer{Email: "forget-me-later@example.com"}
	require.NoError(t, ob.StopTracking(ctx, c))
	stop := startRun(t, ob)
	drained(t, ob)
	stop()
	require.NoError(t, ob.Close())
	assert.Contains(t, logs.String(), "checkpoint blocked by a reader")
	assert.NotContains(t, logs.String(), c.Email)

	require.NoError(t, tx.Rollback())
	next, err := Open(ctx, newClient(t, fake), SQLite(path), fastOptions()...)
	require.NoError(t, err)
	require.NoError(t, next.Close())
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		assert.NotContains(t, string(b), c.Email, "%s after the reader ended and the next Close", filepath.Base(f))
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunCheckpointsWhenIdle: a Run that keeps running also empties the
// WAL once its queue runs dry after deliveries (at most every
// checkpointEvery), so delivered customers do not wait in the WAL for Run
// to return, while another handle keeps the file open.
func TestRunCheckpointsWhenIdle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openOutbox(t, newClient(t, newFake(t)), SQLite(path))
	ob.checkpointEvery = 50 * time.Millisecond
	other := sqliteHandle(t, path)
	var n int
	require.NoError(t, other.QueryRowContext(ctx, `SELECT count(*) FROM blueshift_outbox`).Scan(&n))

	startRun(t, ob)
	var emails []string
	for i := range 20 {
		emails = append(emails, fmt.Sprintf("idle-forget%02d@example.com", i))
		require.NoError(t, ob.StopTracking(ctx, blueshift.Customer{Email: emails[i]}))
	}
	drained(t, ob)
	eventually(t, 10*time.Second, "no delivered email in the file or its WAL while Run runs", func() bool {
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			for _, e := range emails {
				if strings.Contains(string(b), e) {
					return false
				}
			}
		}
		return true
	})
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the WAL is truncated")
}
