package blueshift_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// adaptiveClient returns a client with an adaptive rate for a new fake,
// with fast retries.
func adaptiveClient(t *testing.T, initial, max float64, retries int, fakeOpts ...blueshifttest.Option) (*blueshift.Client, *blueshifttest.Server) {
	t.Helper()
	srv := blueshifttest.NewServer(fakeOpts...)
	t.Cleanup(srv.Close)
	client, err := blueshift.NewClient(srv.APIKey, blueshift.WithBaseURL(srv.URL), blueshift.WithAdaptiveRate(initial, max),
		blueshift.WithRetryMax(retries), blueshift.WithRetryWait(time.Millisecond, 2*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)
	return client, srv
}

func TestAdaptiveRateCutsOnceForEach429Episode(t *testing.T) {
	client, srv := adaptiveClient(t, 100, 100, 4)
	srv.FailNext(3, http.StatusTooManyRequests)
	resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	assert.Equal(t, 4, resp.Attempts)
	// Each retry was granted after the cut its predecessor's 429 caused,
	// so each 429 is a new episode: three cuts of at least 10%.
	assert.Less(t, client.Rate(), 0.9*0.9*0.9*100+5)
	assert.GreaterOrEqual(t, client.Rate(), 1.0)
}

func TestAdaptiveRateAgainstAServerThatAlwaysThrottles(t *testing.T) {
	// Every request is answered 429: the rate falls to its floor of 1 a
	// second, never to zero, and each call still ends by its retry rules.
	client, srv := adaptiveClient(t, 10, 1000, 2, blueshifttest.WithRateLimit(1e-9, 1))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "first@example.com"})
	require.NoError(t, err, "the bucket's one token")
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "a@example.com"})
	assert.ErrorIs(t, err, blueshift.ErrRateLimited)
	var apiErr *blueshift.APIError
	require.True(t, errors.As(err, &apiErr))
	assert.Equal(t, 3, apiErr.Attempts)
	assert.GreaterOrEqual(t, client.Rate(), 1.0)
	assert.Less(t, client.Rate(), 10.0)
	assert.Equal(t, 3, srv.RateLimited())
}

func TestAdaptiveRateWaitRespectsTheDeadline(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // last: after the fake and the client close
	client, srv := adaptiveClient(t, 1, 1, 0)          // one request a second
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "a@example.com"})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = client.StartTracking(ctx, blueshift.Customer{Email: "b@example.com"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var reqErr *blueshift.RequestError
	require.True(t, errors.As(err, &reqErr))
	assert.Equal(t, 0, reqErr.Attempts)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = client.StartTracking(ctx, blueshift.Customer{Email: "c@example.com"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, srv.Requests(), 1)
}

func TestAdaptiveRateCutIsLogged(t *testing.T) {
	var (
		mu  sync.Mutex
		out strings.Builder
	)
	srv := blueshifttest.NewServer()
	defer srv.Close()
	client, err := blueshift.NewClient(srv.APIKey, blueshift.WithBaseURL(srv.URL), blueshift.WithAdaptiveRate(100, 100),
		blueshift.WithRetryWait(time.Millisecond, 2*time.Millisecond), blueshift.WithLogger(slogTo(&out, &mu)))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	srv.FailNext(1, http.StatusTooManyRequests)
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	// Within the first 250 ms there is too little history to measure the
	// success rate, so the cut is to 90; on a machine so loaded that the
	// 429 came later, with no success in the last second, the cut takes
	// half, its most.
	assert.Regexp(t, `level=DEBUG msg="blueshift: adaptive rate cut" from_per_second=100 to_per_second=(90|50)\n`, out.String())
	assert.NotContains(t, out.String(), "ann@example.com")
}

func ExampleWithAdaptiveRate() {
	// A fake that throttles like Blueshift, at 50 requests a second.
	fake := blueshifttest.NewServer(blueshifttest.WithRateLimit(50, 0))
	defer fake.Close()
	// Share one client between all workers of a bulk load: it starts at
	// 10 requests a second, finds the limit by itself and stays close to
	// it (what `blueshift start-tracking --rate auto` does).
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL), blueshift.WithAdaptiveRate(10, 1000))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("allowed rate before the first call: %g/s\n", client.Rate())
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	fmt.Println(err, fake.RateLimited())
	// Output:
	// allowed rate before the first call: 10/s
	// <nil> 0
}
