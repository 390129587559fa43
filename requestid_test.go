package blueshift_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestShortIdentifierNeverReachesTheRequestID: a server that echoes a
// customer identifier into X-Request-Id must not carry it into the
// Response, the error, the hooks or the log, however short the identifier
// is: short ones are redacted where they stand as a whole token, as in
// Message.
func TestShortIdentifierNeverReachesTheRequestID(t *testing.T) {
	for _, tc := range []struct {
		name     string
		customer blueshift.Customer
		header   string
		want     string
	}{
		{"three-byte customer id", blueshift.Customer{CustomerID: "123"}, "customer 123", "customer [redacted]"},
		{"one-byte customer id", blueshift.Customer{CustomerID: "7"}, "req-7", "req-[redacted]"},
		{"short device id, other case", blueshift.Customer{DeviceID: "ab"}, "AB/x", "[redacted]/x"},
		{"short id inside a token is a coincidence", blueshift.Customer{CustomerID: "7"}, "req7f", "req7f"},
		{"long email anywhere", blueshift.Customer{Email: "ann@example.com"}, "idann@example.comx", "id[redacted]x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, status := range []int{200, 400} {
				var (
					mu        sync.Mutex
					hookIDs   []string
					logOutput bytes.Buffer
				)
				note := func(id string) { mu.Lock(); hookIDs = append(hookIDs, id); mu.Unlock() }
				handler := func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("X-Request-Id", tc.header)
					w.WriteHeader(status)
				}
				client, _ := setup(t, handler, blueshift.WithLogger(slogTo(&logOutput, &mu)), blueshift.WithHooks(blueshift.Hooks{
					AttemptDone: func(_ context.Context, i blueshift.AttemptDoneInfo) { note(i.RequestID) },
					CallDone:    func(_ context.Context, i blueshift.CallDoneInfo) { note(i.RequestID) },
				}))
				resp, err := client.StartTracking(context.Background(), tc.customer)
				if status == 200 {
					require.NoError(t, err)
					assert.Equal(t, tc.want, resp.RequestID, "Response.RequestID")
				} else {
					var apiErr *blueshift.APIError
					require.ErrorAs(t, err, &apiErr)
					assert.Equal(t, tc.want, apiErr.RequestID, "APIError.RequestID")
				}
				assert.Equal(t, []string{tc.want, tc.want}, hookIDs, "AttemptDone and CallDone RequestID")
				mu.Lock()
				assert.Contains(t, logOutput.String(), tc.want, "the log line")
				if tc.want != tc.header {
					assert.NotContains(t, logOutput.String(), tc.header, "the log line")
				}
				mu.Unlock()
			}
		})
	}
}
