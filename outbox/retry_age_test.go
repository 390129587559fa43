package outbox

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/blueshift-go/blueshift"
)

// TestRetryRestartsTheAge pins the documented behaviour: Retry and
// RetryAll restart a customer's age, as recording a new change for a dead
// customer does. Stats.OldestPending, the oldest_pending.age gauge and
// the delivery.delay histogram then count from the retry, not from when
// the change was first recorded (Entry.Since, before the retry, shows
// that time); the maximum age restarts too.
func TestRetryRestartsTheAge(t *testing.T) {
	const aged = time.Minute // how far back the dead change is moved
	retries := map[string]func(*testing.T, *Outbox, blueshift.Customer) error{
		"Retry": func(_ *testing.T, ob *Outbox, c blueshift.Customer) error { return ob.Retry(context.Background(), c) },
		"RetryAll": func(t *testing.T, ob *Outbox, _ blueshift.Customer) error {
			n, err := ob.RetryAll(context.Background())
			assert.Equal(t, 1, n, "entries made pending")
			return err
		},
	}
	for _, sc := range stores(t) {
		for name, retry := range retries {
			t.Run(sc.name+"/"+name, func(t *testing.T) {
				ctx := context.Background()
				fake := newFake(t)
				reader := sdkmetric.NewManualReader()
				ob := openOutbox(t, newClient(t, fake), sc.open(t), WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
				c := blueshift.Customer{Email: "retry-age@example.com"}
				fake.FailNext(1, http.StatusBadRequest)
				require.NoError(t, ob.StopTracking(ctx, c))
				stop := startRun(t, ob)
				eventually(t, 10*time.Second, "a dead entry", func() bool { return stats(t, ob).Dead == 1 })
				stop()
				_, err := ob.db.ExecContext(ctx, `UPDATE blueshift_outbox SET first_pending_at = first_pending_at - `+
					strconv.FormatInt(aged.Milliseconds(), 10))
				require.NoError(t, err)
				dead := deadList(t, ob)
				require.Len(t, dead, 1)
				assert.Greater(t, time.Since(dead[0].Since), aged-time.Second, "Since is when the change was recorded")

				require.NoError(t, retry(t, ob, c))
				st := stats(t, ob)
				assert.Equal(t, 1, st.Pending)
				assert.Less(t, st.OldestPending, aged/2, "the age restarts at the retry")
				assert.Less(t, collect(t, reader).gauge("blueshift.outbox.oldest_pending.age"), (aged / 2).Seconds())

				stop = startRun(t, ob)
				drained(t, ob)
				stop()
				assert.Equal(t, int64(1), stats(t, ob).Delivered)
				count, sum := collect(t, reader).delay()
				assert.Equal(t, uint64(1), count, "one delivery")
				assert.Less(t, sum, (aged / 2).Seconds(), "the delivery delay counts from the retry")
			})
		}
	}
}
