package blueshift_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestRedactionLeavesTheClientsOwnWords checks that redaction rewrites only
// text from outside: identifiers that happen to equal a part of the URL,
// the host, the port or Go's own error words leave them as they are, in the
// error and in the log.
func TestRedactionLeavesTheClientsOwnWords(t *testing.T) {
	base := closedPort(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	port := u.Port()
	want := `blueshift: POST /api/v1/customers/unforget: Post "` + base + `/api/v1/customers/unforget": dial tcp 127.0.0.1:` + port + `: connect: connection refused (2 attempts)`
	for _, c := range []blueshift.Customer{
		{CustomerID: "1"},
		{CustomerID: "v1"},
		{CustomerID: port},
		{CustomerID: "2"}, // the attempt count
		{CustomerID: "api", Cookie: "customers"},
		{Email: "connection", CustomerID: "refused", Cookie: "tcp", DeviceID: "127.0.0.1"},
	} {
		t.Run(c.CustomerID, func(t *testing.T) {
			var logs strings.Builder
			var mu sync.Mutex
			client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(base), blueshift.WithRetryMax(1),
				blueshift.WithRetryWait(time.Millisecond, time.Millisecond), blueshift.WithLogger(slogTo(&logs, &mu)))
			require.NoError(t, err)
			_, err = client.StartTracking(context.Background(), c)
			require.Error(t, err)
			assert.Equal(t, want, err.Error())
			mu.Lock()
			defer mu.Unlock()
			assert.Contains(t, logs.String(), `dial tcp 127.0.0.1:`+port+`: connect: connection refused`)
			assert.NotContains(t, logs.String(), "[redacted]")
		})
	}
}
