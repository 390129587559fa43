package outbox

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

const (
	stopPath  = blueshifttest.StopTrackingPath
	startPath = blueshifttest.StartTrackingPath
)

var bea = blueshift.Customer{Email: "bea@example.com"}

// settled waits until nothing is pending or settling and checks that
// nothing is dead and the fake holds want.
func settled(t *testing.T, ob *Outbox, fake interface{ IsTracked(blueshift.Customer) bool }, c blueshift.Customer, want bool) {
	t.Helper()
	drained(t, ob)
	st := stats(t, ob)
	assert.Zero(t, st.Dead)
	assert.Equal(t, want, fake.IsTracked(c), "the customer's last recorded word")
}

// TestLateApplyIsReasserted (issue 15, defect 1): a stop whose call timed
// out is applied by Blueshift after the start recorded later was
// delivered. The outbox sends the start once more after the late-apply
// window, and the customer ends tracked.
func TestLateApplyIsReasserted(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake), sc.open(t), WithLateApplyWindow(2500*time.Millisecond))
			fake.ApplyLate(1, 1500*time.Millisecond) // past the 1 s attempt timeout
			require.NoError(t, ob.StopTracking(ctx, ann))
			startRun(t, ob)
			eventually(t, 5*time.Second, "the stop to reach the fake", func() bool { return len(fake.Requests()) == 1 })
			require.NoError(t, ob.StartTracking(ctx, ann))
			eventually(t, 5*time.Second, "the start to be delivered", func() bool { return fake.IsTracked(ann) })
			eventually(t, 5*time.Second, "the late stop to land", func() bool { return !fake.IsTracked(ann) })
			assert.Equal(t, 1, stats(t, ob).Settling, "the start waits for the window to pass")
			settled(t, ob, fake, ann, true)
			assert.Equal(t, []string{stopPath, startPath, startPath}, paths(fake), "stop, start, start re-asserted")
		})
	}
}

// TestLeaseLostUnderAnInFlightCall (issue 15, defects 3 and 5): a lease
// that expires while its call is still in flight (a stalled worker, or a
// forward jump of the database clock; an UPDATE of the expiry stands in
// for both) lets the customer be claimed again and its newer state be
// delivered; the stale call lands afterwards. Its worker finds its lease
// lost and makes the customer due again, so the latest state lands last.
func TestLeaseLostUnderAnInFlightCall(t *testing.T) {
	for _, sc := range stores(t) {
		for _, late := range []struct {
			name string
			by   time.Duration
		}{
			{"stale call answered", 800 * time.Millisecond},                // within the call's 1 s
			{"stale call lands after the window", 1500 * time.Millisecond}, // past the call and the 1 s window
		} {
			t.Run(sc.name+"/"+late.name, func(t *testing.T) {
				ctx := context.Background()
				fake := newFake(t)
				ob := openOutbox(t, newClient(t, fake), sc.open(t), WithLateApplyWindow(time.Second))
				fake.ApplyLate(1, late.by)
				require.NoError(t, ob.StopTracking(ctx, ann))
				startRun(t, ob)
				eventually(t, 5*time.Second, "the stop to reach the fake", func() bool { return len(fake.Requests()) == 1 })
				_, err := ob.db.ExecContext(ctx, `UPDATE blueshift_outbox SET next_attempt_at = 0`) // the lease expires early
				require.NoError(t, err)
				require.NoError(t, ob.StartTracking(ctx, ann))
				eventually(t, 5*time.Second, "the start to be delivered", func() bool { return fake.IsTracked(ann) })
				time.Sleep(late.by) // the stale stop lands (after the start, unless the machine is slow)
				settled(t, ob, fake, ann, true)
				assert.Equal(t, stopPath, paths(fake)[0])
				assert.Equal(t, startPath, paths(fake)[len(paths(fake))-1])
				assert.Positive(t, ob.mech.leaseLost.Load(), "the stale worker saw its lease lost")
			})
		}
	}
}

// TestSecondOpenerTakesNoLease (issue 15, defect 4): opening the SQLite
// file again (an operator tool calling Dead, or a second Run) while a Run
// delivers never takes over its leases; a second Run waits, and takes over
// once the first stops.
func TestSecondOpenerTakesNoLease(t *testing.T) {
	ctx := context.Background()
	fake := newFake(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	first := openOutbox(t, newClient(t, fake), SQLite(path))
	fake.SetDelay(700 * time.Millisecond)
	require.NoError(t, first.StopTracking(ctx, ann))
	stopFirst := startRun(t, first)
	eventually(t, 5*time.Second, "the first call", func() bool { return len(fake.Requests()) == 1 })

	second := openOutbox(t, newClient(t, fake), SQLite(path))
	assert.Empty(t, deadList(t, second))
	require.NoError(t, second.StartTracking(ctx, bea))
	startRun(t, second)
	eventually(t, 5*time.Second, "the first Run to deliver", func() bool {
		return !fake.IsTracked(ann) && len(fake.Requests()) >= 2
	})
	assert.Equal(t, 1, fake.MaxInFlightPerCustomer(), "no customer was sent twice at once")
	stopFirst()
	require.NoError(t, second.StopTracking(ctx, bea))
	settled(t, second, fake, bea, false)
}

// TestClaimDelayDoesNotStretchTheCall (issue 15, defect 2): on Postgres a
// claim that waited on a table lock returns a lease that has mostly run
// out. The call's deadline counts from before the claim, so no request is
// sent on it, and no two replicas ever send one customer at once.
func TestClaimDelayDoesNotStretchTheCall(t *testing.T) {
	db, _ := freshPostgres(t, postgresDSN(t, true))
	ctx := context.Background()
	fake := newFake(t)
	fake.SetDelay(400 * time.Millisecond)
	a := openOutbox(t, newClient(t, fake), Postgres(db))
	b := openOutbox(t, newClient(t, fake), Postgres(db))
	startRun(t, a)
	startRun(t, b)
	time.Sleep(200 * time.Millisecond) // both Runs have prepared their claim

	// The change is recorded in a transaction that holds a table lock: the
	// claims wait on it, and their leases count from before the wait.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `LOCK TABLE blueshift_outbox IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	require.NoError(t, a.StopTrackingTx(ctx, tx, ann))
	time.Sleep(2300 * time.Millisecond) // past the 2 s lease the blocked claims will return
	require.NoError(t, tx.Commit())

	settled(t, a, fake, ann, false)
	assert.Equal(t, 1, fake.MaxInFlightPerCustomer(), "no customer was sent twice at once")
}

// TestNotSentIsNotFailed (issue 15, defect 6): with more concurrency than
// the client's rate serves within a call's deadline, calls that never sent
// a request are not failures: nobody is backed off or goes dead without
// Blueshift having been asked.
func TestNotSentIsNotFailed(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := newFake(t)
			client := newClient(t, fake, blueshift.WithRateLimit(20, 1))
			ob := openOutbox(t, client, sc.open(t), WithConcurrency(64), WithMaxAge(300*time.Millisecond),
				WithBackoff(time.Minute, time.Hour))
			ob.claimHook = func() { // the first claim outlasts its call's deadline
				if len(fake.Requests()) == 0 && ob.mech.notSent.Load() == 0 {
					time.Sleep(1100 * time.Millisecond)
				}
			}
			const n = 60
			for i := range n {
				require.NoError(t, ob.StartTracking(ctx, customerN(i)))
			}
			startRun(t, ob)
			drained(t, ob)
			asked := map[string]bool{}
			for _, r := range fake.Requests() {
				asked[string(r.Body)] = true
			}
			dead := map[blueshift.Customer]bool{}
			for _, e := range deadList(t, ob) {
				// A call that did reach Blueshift and failed may go dead (300 ms
				// max age); one that never sent a request must not.
				assert.True(t, asked[fmt.Sprintf(`{"customer_id":%q}`, e.Customer.CustomerID)], "dead without a request: %s", e.LastError)
				dead[e.Customer] = true
			}
			for i := range n {
				assert.True(t, dead[customerN(i)] || fake.IsTracked(customerN(i)), "customer %d delivered", i)
			}
			assert.Positive(t, ob.mech.notSent.Load(), "calls were released unsent")
		})
	}
}

func customerN(i int) blueshift.Customer {
	return blueshift.Customer{CustomerID: fmt.Sprintf("n-%d", i)}
}
