package blueshift_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestRetryBudgetExhaustedIsItsOwnError checks that a call the empty retry
// budget stopped can be told from one that used all of WithRetryMax.
func TestRetryBudgetExhaustedIsItsOwnError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		budget   int
		requests int // the server sees
		want     bool
	}{
		{"budget of 1, retry max 3", 1, 2, true},
		{"no budget, retry max 3", 0, 4, false},
		{"budget larger than retry max", 10, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, rec := setup(t, respond(503, `{"message":"down"}`), blueshift.WithRetryMax(3), blueshift.WithRetryBudget(tc.budget))
			_, err := client.StartTracking(context.Background(), ann)
			require.Error(t, err)
			assert.Equal(t, tc.requests, rec.Count())
			assert.ErrorIs(t, err, blueshift.ErrServiceUnavailable, "the last answer is kept")
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 503, apiErr.StatusCode)
			assert.True(t, blueshift.IsRetryable(err))
			if !tc.want {
				assert.NotErrorIs(t, err, blueshift.ErrRetryBudgetExhausted)
				assert.NotContains(t, err.Error(), "budget")
				return
			}
			assert.ErrorIs(t, err, blueshift.ErrRetryBudgetExhausted)
			assert.Equal(t, "blueshift: POST /api/v1/customers/unforget: not retried: the client's retry budget is exhausted (2 attempts); "+
				"last response: blueshift: 503 Service Unavailable: down (request id req-1)", err.Error())
		})
	}
}

// TestRetryBudgetExhaustedAfterANetworkError keeps the network error.
func TestRetryBudgetExhaustedAfterANetworkError(t *testing.T) {
	client, rec := setup(t, dropConnection, blueshift.WithRetryMax(3), blueshift.WithRetryBudget(1))
	_, err := client.StartTracking(context.Background(), ann)
	assert.ErrorIs(t, err, blueshift.ErrRetryBudgetExhausted)
	assert.Contains(t, err.Error(), `EOF; not retried: the client's retry budget is exhausted (2 attempts)`)
	assert.Equal(t, 2, rec.Count())
	assert.True(t, blueshift.IsRetryable(err))
}
