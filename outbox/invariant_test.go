package outbox

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/outbox/internal/crashload"
)

// Timers of the invariant run: a worker's lease is 2 s (see testworker);
// a stopped worker stays stopped past it; late requests land within the
// window.
const (
	invariantWindow = 3 * time.Second
	invariantStop   = 2500 * time.Millisecond
	invariantLate   = 1500 * time.Millisecond
)

// TestInvariantSQLite and TestInvariantPostgres (issue 15): random
// start/stop changes over many customers are recorded while the workers
// (1 on SQLite, 4 on Postgres) are SIGKILLed, SIGSTOPped past their lease
// and resumed, see their claims delayed by a lock held on the table, see
// their leases expired early (an UPDATE standing in for a clock jump), and
// deliver to a fake that fails a fifth of the calls and applies some
// requests late (after the client gave up). After the last re-assertion,
// every customer's state at the fake is their last recorded word, and
// nothing is pending, settling or dead.
func TestInvariantSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := sql.Open("sqlite", sqliteDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	h := newHarness(t, crashload.Config{Store: "sqlite", Target: path, Workers: 1, LateApplyWindow: invariantWindow})
	h.chaos(db, "BEGIN IMMEDIATE")
	h.check()
	h.checkEmpty(db)
}

func TestInvariantPostgres(t *testing.T) {
	db, dsn := freshPostgres(t, postgresDSN(t, true))
	h := newHarness(t, crashload.Config{Store: "postgres", Target: dsn, Workers: 4, LateApplyWindow: invariantWindow})
	h.chaos(db, "BEGIN; LOCK TABLE blueshift_outbox IN ACCESS EXCLUSIVE MODE")
	h.check()
	h.checkEmpty(db)
}

// chaos runs the workers through a shuffled list of faults spread over the
// recording, then waits for them to drain and for late requests to land.
func (h *harness) chaos(db *sql.DB, lock string) {
	events := []string{"kill", "kill", "kill", "kill", "stop", "stop", "stop", "lock", "lock", "lock", "expire", "expire", "expire"}
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	exited := make(chan workerExit, 64)
	for w := range h.cfg.Workers {
		h.start(w, exited)
	}
	var settlingMax atomic.Int64
	stopSampling := sampleSettling(db, &settlingMax)
	fired := map[string]int{}
	late := 0
	for j, ev := range events {
		h.waitAcked(crashChanges*(j+1)/(len(events)+2), exited)
		n := 1 + rand.IntN(3)
		h.fake.ApplyLate(n, invariantLate)
		late += n
		fired[ev] += h.fault(ev, db, lock, exited)
	}
	h.drainAll(exited)
	stopSampling()
	time.Sleep(invariantLate) // late requests still held by the fake land
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t.Logf("faults: SIGKILL %d, SIGSTOP %d (%v each), lock-delayed claims %d, leases expired early %d; requests applied late (asked) %d",
		h.kills, fired["stop"], invariantStop, fired["lock"], fired["expire"], late)
	h.t.Logf("mechanisms: lease lost after a send %d, released unsent %d, settling customers at most %d at once",
		h.logs["lease lost after a request was sent"], h.logs["released without counting an attempt"], settlingMax.Load())
}

// fault makes one fault happen and reports how many times it fired (for
// expire: how many leases it expired).
func (h *harness) fault(ev string, db *sql.DB, lock string, exited chan workerExit) int {
	switch ev {
	case "kill":
		h.killOne(exited)
		return 1
	case "stop":
		p := h.anyWorker()
		if p == nil || p.Signal(syscall.SIGSTOP) != nil {
			return 0
		}
		time.Sleep(invariantStop)
		require.NoError(h.t, p.Signal(syscall.SIGCONT))
		return 1
	case "lock":
		return holdLock(h.t, db, lock)
	default: // expire
		res, err := db.Exec(`UPDATE blueshift_outbox SET next_attempt_at = 0 WHERE status = 1 AND lease_owner <> ''`)
		require.NoError(h.t, err)
		n, _ := res.RowsAffected()
		return int(n)
	}
}

// holdLock holds lock on the table for 1 to 2.5 s on one connection.
func holdLock(t *testing.T, db *sql.DB, lock string) int {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, stmt := range strings.Split(lock, "; ") {
		_, err := conn.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	time.Sleep(time.Second + time.Duration(rand.IntN(1500))*time.Millisecond)
	_, err = conn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	return 1
}

// anyWorker returns a random running worker's process, nil if none.
func (h *harness) anyWorker() *os.Process {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ps []*os.Process
	for _, cmd := range h.workers {
		ps = append(ps, cmd.Process)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps[rand.IntN(len(ps))]
}

// sampleSettling records the most customers seen settling at once, every
// 50 ms, until the returned function is called.
func sampleSettling(db *sql.DB, most *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			var n int64
			if db.QueryRow(`SELECT count(*) FROM blueshift_outbox WHERE status = 1 AND settle_at > 0`).Scan(&n) == nil && n > most.Load() {
				most.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// countLogs counts the worker log lines that show a mechanism firing.
func (h *harness) countLogs(stderr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.logs == nil {
		h.logs = map[string]int{}
	}
	for _, m := range []string{"lease lost after a request was sent", "released without counting an attempt"} {
		h.logs[m] += strings.Count(stderr, m)
	}
}

// checkEmpty checks that the table holds nothing: no customer pending,
// settling or dead, and every delivered customer forgotten.
func (h *harness) checkEmpty(db *sql.DB) {
	var n int
	require.NoError(h.t, db.QueryRow(`SELECT count(*) FROM blueshift_outbox`).Scan(&n))
	assert.Zero(h.t, n, "rows left in the outbox")
}
