package blueshift_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestEchoesInEveryJSONForm checks that identifiers Blueshift echoes in the
// other forms JSON allows (ASCII-only \u escapes in either hex case,
// surrogate pairs, the optional \/, and JSON quoted inside a JSON string)
// are redacted from APIError.Body, Message and Error(), and that Body stays
// valid JSON.
func TestEchoesInEveryJSONForm(t *testing.T) {
	customer := blueshift.Customer{Cookie: "cké-😀-1234", CustomerID: `cust"4242`, DeviceID: "dev/id/9999"}
	for _, tc := range []struct {
		name, message, echo string // echo: the identifier as the body writes it
	}{
		{"ASCII-only JSON", `unknown cookie ck\u00e9-\ud83d\ude00-1234`, `ck\u00e9-\ud83d\ude00-1234`},
		{"ASCII-only JSON, upper-case hex", `unknown cookie ck\u00E9-\uD83D\uDE00-1234`, `ck\u00E9-\uD83D\uDE00-1234`},
		{"escaped slash", `bad device dev\/id\/9999`, `dev\/id\/9999`},
		{"JSON inside JSON", `params: {\"customer_id\":\"cust\\\"4242\"}`, `cust\\\"4242`},
		{"ASCII-only JSON inside JSON", `params: {\"cookie\":\"ck\\u00e9-\\ud83d\\ude00-1234\"}`, `ck\\u00e9-\\ud83d\\ude00-1234`},
		{"escaped slash inside JSON", `params: {\"device_id\":\"dev\\/id\\/9999\"}`, `dev\\/id\\/9999`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"message":"` + tc.message + `"}`
			client, _ := setup(t, respond(http.StatusBadRequest, body))
			_, err := client.StartTracking(context.Background(), customer)
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.NotContains(t, string(apiErr.Body), tc.echo)
			assert.Contains(t, string(apiErr.Body), "[redacted]")
			assert.True(t, json.Valid(apiErr.Body), "Body %s", apiErr.Body)
			for _, id := range []string{customer.Cookie, customer.CustomerID, customer.DeviceID, tc.echo} {
				assert.NotContains(t, apiErr.Message, id)
				assert.NotContains(t, err.Error(), id)
			}
		})
	}
}

// TestEchoedRequestBodyInAMalformedHeaderLine: a server whose malformed
// header line echoes the request's JSON body reaches the error through
// net/http, which quotes the line with %q on top of the JSON escaping; an
// identifier holding a quote or a backslash must not survive that double
// escaping, in the error or in the log (an outside review reproduced it).
func TestEchoedRequestBodyInAMalformedHeaderLine(t *testing.T) {
	for _, customer := range []blueshift.Customer{
		{Email: `"ann.smith"@example.com`},
		{CustomerID: `cust"0042`},
		{CustomerID: `back\slash-7`},
		{CustomerID: "plain-0042"},
	} {
		t.Run(customer.Email+customer.CustomerID, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					req, err := http.ReadRequest(bufio.NewReader(c))
					if err == nil {
						body, _ := io.ReadAll(io.LimitReader(req.Body, 4096))
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Echo %s\r\nContent-Length: 0\r\n\r\n", body)
					}
					c.Close()
				}
			}()
			var logs strings.Builder
			client, err := blueshift.NewClient("test-key-0001", blueshift.WithBaseURL("http://"+ln.Addr().String()), blueshift.WithRetryMax(0),
				blueshift.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			require.NoError(t, err)
			_, err = client.StartTracking(context.Background(), customer)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "malformed MIME header line")
			assert.Contains(t, err.Error(), "[redacted]")
			id := customer.Email + customer.CustomerID
			for _, text := range []string{err.Error(), fmt.Sprintf("%#v", err), logs.String()} {
				for _, form := range []string{id, strings.Trim(strconv.Quote(id), `"`), "ann.smith", "0042", "slash-7"} {
					assert.NotContains(t, text, form)
				}
			}
		})
	}
}

// TestBodyCutNeverKeepsAPrefixOfASecret: Body keeps at most 64 KiB of the
// answer, so a secret echoed across that limit is cut; what stays of it
// must not survive either (an outside review saw "k3y-Secret-0" remain).
func TestBodyCutNeverKeepsAPrefixOfASecret(t *testing.T) {
	const key = "k3y-Secret-0001"
	for _, tc := range []struct{ name, secret string }{
		{"the key", key},
		{"an email", "ann.smith@example.com"},
		{"the email in upper case", "ANN.SMITH@EXAMPLE.COM"},
	} {
		for _, keep := range []int{4, 7, 12} { // bytes of the secret before the limit
			t.Run(fmt.Sprintf("%s/%d", tc.name, keep), func(t *testing.T) {
				body := strings.Repeat("a", 64<<10-keep) + tc.secret + `"}`
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, body)
				}))
				defer srv.Close()
				client, err := blueshift.NewClient(key, blueshift.WithBaseURL(srv.URL))
				require.NoError(t, err)
				_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann.smith@example.com"})
				var apiErr *blueshift.APIError
				require.ErrorAs(t, err, &apiErr)
				tail := strings.TrimLeft(string(apiErr.Body), "a")
				assert.Empty(t, tail, "what is left of the secret after the cut")
				assert.True(t, strings.HasPrefix(string(apiErr.Body), strings.Repeat("a", 1000)))
			})
		}
	}
}

// TestEscapedEchoInAnotherLetterCase: an identifier with a non-ASCII
// letter, echoed ASCII-escaped in the other letter case (é sent, \u00c9
// echoed), is redacted from Body as it is from the message.
func TestEscapedEchoInAnotherLetterCase(t *testing.T) {
	customer := blueshift.Customer{Cookie: "cké-1234"}
	for _, echo := range []string{`CK\u00c9-1234`, `CK\u00C9-1234`, `ck\u00e9-1234`, `CKÉ-1234`} {
		t.Run(echo, func(t *testing.T) {
			client, _ := setup(t, respond(http.StatusBadRequest, `{"message":"unknown cookie `+echo+`"}`))
			_, err := client.StartTracking(context.Background(), customer)
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.NotContains(t, string(apiErr.Body), echo)
			assert.Contains(t, string(apiErr.Body), "[redacted]")
			assert.True(t, json.Valid(apiErr.Body))
		})
	}
}
