package blueshift_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// uncertainOf returns the Uncertain count a call reported, whatever its
// outcome.
func uncertainOf(t *testing.T, resp *blueshift.Response, err error) int {
	t.Helper()
	var apiErr *blueshift.APIError
	var reqErr *blueshift.RequestError
	switch {
	case err == nil:
		return resp.Uncertain
	case errors.As(err, &reqErr):
		return reqErr.Uncertain
	case errors.As(err, &apiErr):
		return apiErr.Uncertain
	}
	t.Fatalf("unexpected error type %T: %v", err, err)
	return 0
}

// TestUncertainCountsAttemptsWithoutADefiniteAnswer: the outbox needs to
// know whether any attempt of a call may still be applied by Blueshift.
func TestUncertainCountsAttemptsWithoutADefiniteAnswer(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		opts      []blueshift.Option
		deadline  time.Duration
		attempts  int
		uncertain int
	}{
		{"2xx is definite", nil, nil, 0, 1, 0},
		{"429 then 2xx are definite", sequence(respond(429, `{}`), okHandler), nil, 0, 2, 0},
		{"400 is definite", respond(400, `{}`), nil, 0, 1, 0},
		{"503 then 2xx: one uncertain", sequence(respond(503, `{}`), okHandler), nil, 0, 2, 1},
		{"500 every time", respond(500, `{}`), nil, 0, 3, 3},
		{"dropped connection then 2xx", sequence(dropConnection, okHandler), nil, 0, 2, 1},
		{"attempt timeouts", hang, []blueshift.Option{blueshift.WithTimeout(30 * time.Millisecond), blueshift.WithRetryMax(1)}, 0, 2, 2},
		{"caller's deadline during an attempt", hang, []blueshift.Option{blueshift.WithTimeout(time.Minute)}, 50 * time.Millisecond, 1, 1},
		{"timeout then 422 keeps the uncertain attempt", sequence(hang, respond(422, `{}`)),
			[]blueshift.Option{blueshift.WithTimeout(30 * time.Millisecond)}, 0, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := setup(t, tt.handler, tt.opts...)
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			resp, err := client.StopTracking(ctx, ann)
			assert.Equal(t, tt.uncertain, uncertainOf(t, resp, err), "error: %v", err)
		})
	}
}

// TestNoRequestSentIsNeverUncertain: a refused connection or a call that
// never started cannot have reached Blueshift.
func TestNoRequestSentIsNeverUncertain(t *testing.T) {
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(closedPort(t)),
		blueshift.WithRetryWait(time.Millisecond, time.Millisecond), blueshift.WithRetryMax(2))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), ann)
	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Equal(t, 3, reqErr.Attempts)
	assert.Zero(t, reqErr.Uncertain, "connection refused: nothing was written")

	client, _ = setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = client.StartTracking(ctx, ann)
	require.ErrorAs(t, err, &reqErr)
	assert.Zero(t, reqErr.Uncertain)
}
