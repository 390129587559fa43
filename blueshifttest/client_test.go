package blueshifttest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

func TestServerClientRetriesWithTestWaits(t *testing.T) {
	fake := blueshifttest.NewServer(blueshifttest.WithAPIKey("another-test-key"))
	defer fake.Close()
	client := fake.Client()
	assert.Equal(t, fake.URL, client.BaseURL())
	assert.Zero(t, client.Rate(), "no rate limit")

	fake.FailNext(4, http.StatusServiceUnavailable)
	ann := blueshift.Customer{Email: "ann@example.com"}
	resp, err := client.StartTracking(context.Background(), ann)
	require.NoError(t, err)
	assert.Equal(t, 5, resp.Attempts, "the production retry count")
	assert.True(t, fake.IsTracked(ann))
	require.Len(t, fake.Requests(), 5)
	for _, r := range fake.Requests() {
		assert.Equal(t, "Basic YW5vdGhlci10ZXN0LWtleTo=", r.Header.Get("Authorization"), "the fake's own key")
	}
}

func TestServerClientOptionsWin(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	client := fake.Client(blueshift.WithRetryMax(0))
	fake.FailNext(1, http.StatusServiceUnavailable)
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.ErrorIs(t, err, blueshift.ErrServiceUnavailable)
	assert.Len(t, fake.Requests(), 1)

	slow := fake.Client(blueshift.WithRetryWait(time.Hour, time.Hour))
	fake.FailNext(1, http.StatusServiceUnavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = slow.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's waits replaced the test waits")
}

func TestServerClientPanicsOnABadOption(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	defer func() {
		err, _ := recover().(error)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "retry wait needs 0 < min <= max")
	}()
	fake.Client(blueshift.WithRetryWait(0, 0))
}
