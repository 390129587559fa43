package blueshift_test

import (
	"context"
	"net/http/httptest"
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

// TestRedactionLeavesGosOwnWords checks that identifiers equal to Go's and
// net/http's fixed words (or a part of them) leave those words as they are,
// while the same identifiers echoed in the outside bytes that net/http and
// net/textproto quote are still redacted.
func TestRedactionLeavesGosOwnWords(t *testing.T) {
	const broken = `net/http: HTTP/1.x transport connection broken: `
	malformed := broken + `malformed HTTP status code "abc"`
	refused := func(base string) string {
		return `dial tcp ` + strings.TrimPrefix(base, "http://") + `: connect: connection refused`
	}
	for _, tc := range []struct {
		name string
		head string // the raw response; "" for a refused connection
		ids  []string
		want func(base string) string // RequestError.Err's text after the URL
	}{
		{"malformed status line", "HTTP/1.1 abc OK\r\n\r\n",
			[]string{"1", "x", "http", "HTTP", "connection", "net", "net/http", "transport", "broken", "malformed", "status code", "HTTP/1.x", "code", "abc OK"},
			func(string) string { return malformed }},
		{"refused", "",
			[]string{"connect", "dial", "tcp", "connection", "refused", "connection refused", "127.0.0.1"},
			refused},
		{"status code echoes an id", "HTTP/1.1 http OK\r\n\r\n", []string{"http"},
			func(string) string { return broken + `malformed HTTP status code "[redacted]"` }},
		{"status code echoes a long id", "HTTP/1.1 cust-4242 OK\r\n\r\n", []string{"cust-4242"},
			func(string) string { return broken + `malformed HTTP status code "[redacted]"` }},
		{"header line echoes an id", "HTTP/1.1 200 OK\r\nmalformed cust-4242\r\n\r\n", []string{"cust-4242"},
			func(string) string { return broken + `malformed MIME header: missing colon: "malformed [redacted]"` }},
		{"header line echoes a Go word", "HTTP/1.1 200 OK\r\nmalformed cust-4242\r\n\r\n", []string{"malformed"},
			func(string) string { return broken + `malformed MIME header: missing colon: "[redacted] cust-4242"` }},
		{"content length echoes an id", "HTTP/1.1 200 OK\r\nContent-Length: 4242\r\nContent-Length: 4243\r\n\r\n", []string{"4242"},
			func(string) string {
				return broken + `http: message cannot contain multiple Content-Length headers; got ["[redacted]" "4243"]`
			}},
		{"content length, ids in Go's words", "HTTP/1.1 200 OK\r\nContent-Length: 4242\r\nContent-Length: 4243\r\n\r\n", []string{"http", "got", "Content-Length"},
			func(string) string {
				return broken + `http: message cannot contain multiple Content-Length headers; got ["4242" "4243"]`
			}},
	} {
		for _, id := range tc.ids {
			t.Run(tc.name+"/"+id, func(t *testing.T) {
				base := closedPort(t)
				if tc.head != "" {
					srv := httptest.NewServer(raw(tc.head, "", false))
					defer srv.Close()
					base = srv.URL
				}
				client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(base), blueshift.WithRetryMax(0))
				require.NoError(t, err)
				_, err = client.StartTracking(context.Background(), blueshift.Customer{CustomerID: id})
				var reqErr *blueshift.RequestError
				require.ErrorAs(t, err, &reqErr)
				assert.Equal(t, `Post "`+base+reqErr.Path+`": `+tc.want(base), reqErr.Err.Error())
			})
		}
	}
}

// TestRedactionLeavesTheRateWaitWords checks the client's own words for a
// turn of the rate that cannot come before the deadline, with either rate
// option, against identifiers equal to those words.
func TestRedactionLeavesTheRateWaitWords(t *testing.T) {
	for _, tc := range []struct {
		opt  blueshift.Option
		want string
	}{
		{blueshift.WithRateLimit(0.5, 1), "waiting for the rate limit would pass the deadline: context deadline exceeded"},
		{blueshift.WithAdaptiveRate(0.5, 1), "waiting for the adaptive rate would pass the deadline: context deadline exceeded"},
	} {
		for _, id := range []string{"waiting", "rate", "adaptive", "limit", "deadline", "context"} {
			t.Run(tc.want+"/"+id, func(t *testing.T) {
				client, _ := setup(t, nil, tc.opt, blueshift.WithRetryMax(0))
				_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "first"}) // takes the one token
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_, err = client.StartTracking(ctx, blueshift.Customer{CustomerID: id})
				var reqErr *blueshift.RequestError
				require.ErrorAs(t, err, &reqErr)
				assert.Equal(t, tc.want, reqErr.Err.Error())
			})
		}
	}
}
