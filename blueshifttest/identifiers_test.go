package blueshifttest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

func TestFakeTracksEveryIdentifier(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	client := newClient(t, srv)
	ctx := context.Background()
	for _, c := range []blueshift.Customer{
		{Email: "Ann@Example.com"},
		{CustomerID: "C-1"},
		{Cookie: "ck-1"},
		{DeviceID: "dev-1"},
		{Email: "bob@example.com", CustomerID: "C-2", Cookie: "ck-2", DeviceID: "dev-2"},
	} {
		assert.False(t, srv.IsTracked(c), "never seen: %+v", c)
		_, err := client.StartTracking(ctx, c)
		require.NoError(t, err)
		assert.True(t, srv.IsTracked(c), "%+v", c)
		_, err = client.StopTracking(ctx, c)
		require.NoError(t, err)
		assert.False(t, srv.IsTracked(c), "%+v", c)
	}
	_, err := client.StartTracking(ctx, blueshift.Customer{Email: "carol@example.com"})
	require.NoError(t, err)
	assert.True(t, srv.IsTracked(blueshift.Customer{Email: " CAROL@example.com "}), "email ignores case and white space")
	assert.False(t, srv.IsTracked(blueshift.Customer{Email: "carol@example.com", DeviceID: "other"}), "every identifier must be tracked")
}

func TestMaxInFlightPerCustomer(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	client := newClient(t, srv)
	srv.SetDelay(50 * time.Millisecond)

	ann, bob := blueshift.Customer{Email: "ann@example.com"}, blueshift.Customer{Email: "bob@example.com"}
	_, err := client.StartTracking(context.Background(), ann)
	require.NoError(t, err)
	assert.Equal(t, 1, srv.MaxInFlightPerCustomer(), "one call at a time")

	var wg sync.WaitGroup
	for _, c := range []blueshift.Customer{ann, bob} { // two customers at once: still 1 each
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = client.StartTracking(context.Background(), c)
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, srv.MaxInFlightPerCustomer())

	srv.SetDelay(300 * time.Millisecond) // long enough that three calls started together overlap
	for range 3 {                        // one customer three times at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = client.StopTracking(context.Background(), bob)
		}()
	}
	wg.Wait()
	assert.Equal(t, 3, srv.MaxInFlightPerCustomer())

	srv.Reset()
	assert.Equal(t, 0, srv.MaxInFlightPerCustomer())
}
