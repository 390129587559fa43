package outbox

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

var ann = blueshift.Customer{Email: "ann@example.com"}

// TestOrdering: the customer's last word wins, whichever change failed.
func TestOrdering(t *testing.T) {
	for _, sc := range stores(t) {
		for _, tc := range []struct {
			name          string
			first, second bool // tracked
			failures      int
		}{
			{"stop then start, the stop failing twice", false, true, 2},
			{"start then stop, the start failing", true, false, 1},
		} {
			t.Run(sc.name+"/"+tc.name, func(t *testing.T) {
				fake := newFake(t)
				ob := openOutbox(t, newClient(t, fake), sc.open(t))
				ctx := context.Background()
				fake.FailNext(tc.failures, http.StatusServiceUnavailable)
				require.NoError(t, record(ctx, ob, ann, tc.first))
				startRun(t, ob)
				eventually(t, 10*time.Second, "the failures", func() bool { return len(fake.Requests()) >= tc.failures })
				require.NoError(t, record(ctx, ob, ann, tc.second))
				drained(t, ob)

				assert.Equal(t, tc.second, fake.IsTracked(ann))
				got := paths(fake)
				assert.Equal(t, pathOf(tc.second), got[len(got)-1], "the last call sends the last change")
				assert.Equal(t, 0, stats(t, ob).Dead)
			})
		}
	}
}

// TestNewerChangeDuringDelivery: a delivery completing for version v does
// not mark version v+1, recorded meanwhile, delivered; the two calls never
// overlap.
func TestNewerChangeDuringDelivery(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake), sc.open(t))
			ctx := context.Background()
			fake.SetDelay(300 * time.Millisecond)
			require.NoError(t, ob.StartTracking(ctx, ann))
			startRun(t, ob)
			eventually(t, 5*time.Second, "the first call", func() bool { return len(fake.Requests()) == 1 })
			require.NoError(t, ob.StopTracking(ctx, ann))
			drained(t, ob)

			assert.False(t, fake.IsTracked(ann))
			assert.Equal(t, []string{blueshifttest.StartTrackingPath, blueshifttest.StopTrackingPath}, paths(fake))
			assert.Equal(t, 1, fake.MaxInFlightPerCustomer())
			assert.Equal(t, int64(2), stats(t, ob).Delivered)
		})
	}
}

// TestOutage: 503 for a while, then recovery: everything delivered,
// nothing dead.
func TestOutage(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake), sc.open(t))
			fake.FailNext(1_000_000, http.StatusServiceUnavailable)
			customers := someCustomers(20)
			for _, c := range customers {
				require.NoError(t, ob.StartTracking(context.Background(), c))
			}
			startRun(t, ob)
			eventually(t, 10*time.Second, "60 failed calls", func() bool { return len(fake.Requests()) >= 60 })
			st := stats(t, ob)
			assert.Equal(t, 20, st.Pending)
			assert.Equal(t, 0, st.Dead)
			assert.Greater(t, st.OldestPending, time.Duration(0))

			fake.Reset() // Blueshift recovers
			drained(t, ob)
			for _, c := range customers {
				assert.True(t, fake.IsTracked(c))
			}
			st = stats(t, ob)
			assert.Equal(t, 0, st.Dead)
			assert.Equal(t, int64(20), st.Delivered)
		})
	}
}

// TestUnauthorizedPauses: a 401 pauses delivery (probing with one entry),
// marks nothing dead, and delivery resumes when the key works again.
func TestUnauthorizedPauses(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			fake := newFake(t)
			probe := 200 * time.Millisecond
			ob := openOutbox(t, newClient(t, fake), stores(t)[0].open(t), WithBackoff(5*time.Millisecond, probe))
			fake.FailNext(1_000_000, status)
			customers := someCustomers(20)
			for _, c := range customers {
				require.NoError(t, ob.StartTracking(context.Background(), c))
			}
			startRun(t, ob)
			eventually(t, 5*time.Second, "the pause", func() bool { return stats(t, ob).Paused })
			before := len(fake.Requests())
			time.Sleep(5 * probe)
			probes := len(fake.Requests()) - before
			// One probe per 200ms, plus the calls that were in flight when
			// the pause began; unpaused, the 20 customers with 5-50ms
			// backoffs would make hundreds of calls in that second.
			assert.LessOrEqual(t, probes, 12, "while paused, one probe per %v", probe)
			assert.GreaterOrEqual(t, probes, 1, "probes go on while paused")
			st := stats(t, ob)
			assert.Equal(t, 20, st.Pending)
			assert.Equal(t, 0, st.Dead)

			fake.Reset() // the key works again
			drained(t, ob)
			for _, c := range customers {
				assert.True(t, fake.IsTracked(c))
			}
			st = stats(t, ob)
			assert.False(t, st.Paused)
			assert.Equal(t, 0, st.Dead)
		})
	}
}

// TestFailurePolicy: each status's outcome for one customer.
func TestFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		status   int
		wantDead bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusRequestEntityTooLarge, true},
		{http.StatusUnprocessableEntity, true},
		{http.StatusNotFound, false},
		{http.StatusConflict, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusTeapot, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake), stores(t)[0].open(t), WithBackoff(5*time.Millisecond, 50*time.Millisecond))
			fake.FailNext(1, tc.status)
			require.NoError(t, ob.StopTracking(context.Background(), ann))
			startRun(t, ob)
			if tc.wantDead {
				eventually(t, 5*time.Second, "a dead entry", func() bool { return stats(t, ob).Dead == 1 })
				dead := deadList(t, ob)
				require.Len(t, dead, 1)
				assert.Equal(t, ann, dead[0].Customer)
				assert.False(t, dead[0].Tracked)
				assert.Contains(t, dead[0].LastError, http.StatusText(tc.status)[:3])
				assert.Len(t, fake.Requests(), 1, "a permanent failure is not retried")
				return
			}
			drained(t, ob)
			assert.Len(t, fake.Requests(), 2, "one failure, then the delivery")
			assert.Equal(t, 0, stats(t, ob).Dead)
		})
	}
}

// TestMaxAge: a customer failing for longer than the maximum age goes
// dead; Retry makes it pending again.
func TestMaxAge(t *testing.T) {
	fake := newFake(t)
	ob := openOutbox(t, newClient(t, fake), stores(t)[0].open(t), WithMaxAge(200*time.Millisecond))
	ctx := context.Background()
	assert.ErrorIs(t, ob.Retry(ctx, ann), ErrNotDead)
	fake.FailNext(1_000_000, http.StatusServiceUnavailable)
	require.NoError(t, ob.StartTracking(ctx, ann))
	startRun(t, ob)
	eventually(t, 5*time.Second, "a dead entry", func() bool { return stats(t, ob).Dead == 1 })
	dead := deadList(t, ob)
	require.Len(t, dead, 1)
	assert.Greater(t, dead[0].Attempts, 1)
	assert.Contains(t, dead[0].LastError, "503")
	assert.Equal(t, 0, stats(t, ob).Pending)

	fake.Reset()
	require.NoError(t, ob.Retry(ctx, ann))
	drained(t, ob)
	assert.True(t, fake.IsTracked(ann))
	assert.Equal(t, 0, stats(t, ob).Dead)
}

// TestRunStops: Run cancels a call in flight, releases its lease at once
// (the next Run delivers without waiting for the lease to expire) and
// returns promptly.
func TestRunStops(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake, blueshift.WithTimeout(time.Minute)), sc.open(t),
				WithLease(5*time.Minute), WithClientTimeout(time.Minute))
			fake.SetDelay(time.Hour)
			require.NoError(t, ob.StartTracking(context.Background(), ann))
			stop := startRun(t, ob)
			eventually(t, 5*time.Second, "the call", func() bool { return len(fake.Requests()) == 1 })
			start := time.Now()
			stop()
			assert.Less(t, time.Since(start), 3*time.Second)
			assert.Equal(t, 1, stats(t, ob).Pending)

			fake.SetDelay(0)
			startRun(t, ob)
			eventually(t, 10*time.Second, "delivery after restart", func() bool { return fake.IsTracked(ann) })
			drained(t, ob)
		})
	}
}

// TestRunTwice: one Outbox runs one Run at a time.
func TestRunTwice(t *testing.T) {
	fake := newFake(t)
	ob := openOutbox(t, newClient(t, fake), stores(t)[0].open(t))
	startRun(t, ob)
	eventually(t, time.Second, "Run to start", ob.running.Load)
	assert.ErrorIs(t, ob.Run(context.Background()), ErrRunning)
}

// TestIdentity: the outbox keys a customer by all its identifiers,
// trimmed, the email without regard to case.
func TestIdentity(t *testing.T) {
	fake := newFake(t)
	ob := openOutbox(t, newClient(t, fake), stores(t)[0].open(t))
	ctx := context.Background()
	require.NoError(t, ob.StartTracking(ctx, blueshift.Customer{Email: " Ann@Example.com\u200b"}))
	require.NoError(t, ob.StopTracking(ctx, blueshift.Customer{Email: "ann@example.com"}))
	assert.Equal(t, 1, stats(t, ob).Pending, "one customer")
	require.NoError(t, ob.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com", CustomerID: "42"}))
	assert.Equal(t, 2, stats(t, ob).Pending, "{Email: a, CustomerID: b} is another customer")

	startRun(t, ob)
	drained(t, ob)
	// The two customers' calls go out in any order (and Blueshift, like the
	// fake, may see them as overlapping profiles: the README's warning).
	sent := map[string]string{}
	for _, r := range fake.Requests() {
		sent[string(r.Body)] = r.Path
	}
	assert.Equal(t, map[string]string{
		`{"email":"ann@example.com"}`:                    blueshifttest.StopTrackingPath,
		`{"email":"ann@example.com","customer_id":"42"}`: blueshifttest.StartTrackingPath,
	}, sent, "the first customer's latest change only, with its identifiers as last recorded")
	assert.Len(t, fake.Requests(), 2)
}

func record(ctx context.Context, ob *Outbox, c blueshift.Customer, tracked bool) error {
	if tracked {
		return ob.StartTracking(ctx, c)
	}
	return ob.StopTracking(ctx, c)
}

func pathOf(tracked bool) string {
	if tracked {
		return blueshifttest.StartTrackingPath
	}
	return blueshifttest.StopTrackingPath
}

func someCustomers(n int) []blueshift.Customer {
	out := make([]blueshift.Customer, n)
	for i := range out {
		out[i] = blueshift.Customer{Email: fmt.Sprintf("c%d@example.com", i)}
	}
	return out
}

// TestMaxAgeCountsFromTheOldestUndeliveredChange: when a change is
// recorded while an older one is being delivered, the delivery's success
// makes the newer change the oldest undelivered one, and the maximum age
// counts from it, not from the delivered one.
func TestMaxAgeCountsFromTheOldestUndeliveredChange(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			fake := newFake(t)
			ob := openOutbox(t, newClient(t, fake), sc.open(t))
			ctx := context.Background()
			fake.SetDelay(500 * time.Millisecond)
			require.NoError(t, ob.StartTracking(ctx, ann))
			startRun(t, ob)
			eventually(t, 5*time.Second, "the first call", func() bool { return len(fake.Requests()) == 1 })
			time.Sleep(200 * time.Millisecond)
			fake.FailNext(1_000_000, http.StatusServiceUnavailable) // after the first call, which is already in
			recorded := time.Now()
			require.NoError(t, ob.StopTracking(ctx, ann))
			eventually(t, 5*time.Second, "the first delivery", func() bool { return stats(t, ob).Delivered == 1 })

			var since int64
			require.NoError(t, ob.db.QueryRow(`SELECT first_pending_at FROM blueshift_outbox`).Scan(&since))
			assert.InDelta(t, recorded.UnixMilli(), since, 100, "the stop's record time, not the start's (200+ ms earlier)")
			assert.Equal(t, 1, stats(t, ob).Pending)
		})
	}
}

// TestCloseStopsRun: Close while Run is going stops Run (it returns
// ErrClosed) before closing the database, so nothing is delivered or
// polled afterwards, as in the README's snippet (defer ob.Close() with
// go ob.Run(ctx)).
func TestCloseStopsRun(t *testing.T) {
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			fake := newFake(t)
			fake.SetDelay(time.Hour) // a call in flight when Close comes
			ob, err := Open(context.Background(), newClient(t, fake), sc.open(t), fastOptions()...)
			require.NoError(t, err)
			require.NoError(t, ob.StartTracking(context.Background(), ann))
			done := make(chan error, 1)
			go func() { done <- ob.Run(context.Background()) }()
			require.Eventually(t, func() bool { return len(fake.Requests()) == 1 }, 5*time.Second, time.Millisecond)

			start := time.Now()
			require.NoError(t, ob.Close())
			assert.False(t, ob.running.Load(), "Close returned before Run was done")
			// Run's return to its caller (and so the send on done) may come
			// a moment after Close returns, in Run's goroutine.
			select {
			case err := <-done:
				assert.ErrorIs(t, err, ErrClosed)
			case <-time.After(2 * time.Second):
				t.Fatal("Run did not return after Close")
			}
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.ErrorIs(t, ob.Run(context.Background()), ErrClosed)
			assert.ErrorIs(t, ob.StartTracking(context.Background(), ann), ErrClosed)
		})
	}
}
