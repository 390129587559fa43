package blueshift_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// cutBody answers status with the head of a 100-byte body and then sends
// nothing more until the client goes away.
func cutBody(status int, head string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(head))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}
}

// TestAttemptTimeoutDuringTheBody pins what WithTimeout promises about a
// body it cuts off: the attempt does not fail, the status decides. A 2xx
// is a success (Blueshift answered 2xx, so it applied the call; only
// Status, read from the body, is missing); any other status is the
// *APIError of that status, with the part of the body that arrived,
// retried or not as its status is.
func TestAttemptTimeoutDuringTheBody(t *testing.T) {
	apiError := func(status, attempts int, body string) func(*testing.T, *blueshift.Response, error) {
		return func(t *testing.T, resp *blueshift.Response, err error) {
			assert.Nil(t, resp)
			assert.NotErrorIs(t, err, blueshift.ErrAttemptTimeout)
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, status, apiErr.StatusCode)
			assert.Equal(t, http.StatusText(status), apiErr.Message)
			assert.Equal(t, body, string(apiErr.Body))
			assert.Equal(t, attempts, apiErr.Attempts)
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, resp *blueshift.Response, err error)
	}{
		{"200 cut", cutBody(http.StatusOK, `{"status":"o`), func(t *testing.T, resp *blueshift.Response, err error) {
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "", resp.Status)
			assert.Equal(t, 1, resp.Attempts)
		}},
		{"202 cut before any byte", cutBody(http.StatusAccepted, ""), func(t *testing.T, resp *blueshift.Response, err error) {
			require.NoError(t, err)
			assert.Equal(t, http.StatusAccepted, resp.StatusCode)
			assert.Equal(t, 1, resp.Attempts)
		}},
		{"400 cut", cutBody(http.StatusBadRequest, `{"message":"bad`), apiError(http.StatusBadRequest, 1, `{"message":"bad`)},
		{"503 cut, retried", cutBody(http.StatusServiceUnavailable, `{"message":"down`), apiError(http.StatusServiceUnavailable, 2, `{"message":"down`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := setup(t, tc.handler, blueshift.WithTimeout(100*time.Millisecond), blueshift.WithRetryMax(1))
			resp, err := client.StartTracking(context.Background(), ann)
			tc.check(t, resp, err)
		})
	}
}
