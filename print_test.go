package blueshift_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// The secrets of the print tests: a key, and identifiers that need quoting
// (a '"', a '\\', a non-ASCII and a non-printable rune), so that an echo in
// Go-quoted or JSON-escaped form differs from the plain one.
const printKey = "sk-live-Z9q8"

var printCustomer = blueshift.Customer{
	Email:      "ann.secret@example.com",
	CustomerID: `cu"st\9981`,
	Cookie:     "ck-cookie-\u00adsoft",
	DeviceID:   "dév-Ann-4242",
}

// printSecrets lists the key, base64(key:) and every identifier.
func printSecrets() []string {
	return []string{printKey, base64.StdEncoding.EncodeToString([]byte(printKey + ":")),
		printCustomer.Email, printCustomer.CustomerID, printCustomer.Cookie, printCustomer.DeviceID}
}

// echoForms returns s as a server may echo it: as is, Go-quoted (%q, %+q)
// and JSON-escaped, without the outer quotes.
func echoForms(s string) []string {
	j, _ := json.Marshal(s)
	return []string{s, unquote(strconv.Quote(s)), unquote(strconv.QuoteToASCII(s)), unquote(string(j))}
}

func unquote(q string) string { return q[1 : len(q)-1] }

// echoAll is a text that holds every secret in every form.
func echoAll() string {
	var parts []string
	for _, s := range printSecrets() {
		parts = append(parts, echoForms(s)...)
	}
	return strings.Join(parts, " | ")
}

// assertNoSecret fails if any secret of 4 or more bytes appears in out in
// any of its echo forms, in any letter case.
func assertNoSecret(t *testing.T, how, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	for _, s := range printSecrets() {
		for _, form := range echoForms(s) {
			if len(s) >= 4 && strings.Contains(lower, strings.ToLower(form)) {
				t.Errorf("%s prints secret %q (as %q):\n%s", how, s, form, out)
				return
			}
		}
	}
}

// captureT is a testify TestingT that keeps the failure message.
type captureT struct{ strings.Builder }

func (c *captureT) Errorf(format string, args ...any) { fmt.Fprintf(&c.Builder, format, args...) }

// echoHandler answers status with a body, a request id and (for a 3xx) a
// Location that echo every secret in every form.
func echoHandler(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		all := echoAll() + " " + r.Header.Get("Authorization") + " " + string(body)
		w.Header().Set("X-Request-Id", "req-"+printCustomer.Email)
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "https://elsewhere.example/"+pctAt(printCustomer.Email))
		}
		w.WriteHeader(status)
		msg, _ := json.Marshal(all)
		fmt.Fprintf(w, `{"message":%s,"errors":{%s:[%s]}}`, msg, msg, msg)
	}
}

func pctAt(s string) string { return strings.ReplaceAll(s, "@", "%40") }

// printCase is a real failing call of one kind.
type printCase struct {
	name    string
	handler http.HandlerFunc // nil: a closed port
	opts    []blueshift.Option
	ctx     func(t *testing.T) context.Context // nil: Background
	prepare func(t *testing.T, c *blueshift.Client)
}

func printCases() []printCase {
	deadline := func(d time.Duration) func(t *testing.T) context.Context {
		return func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			t.Cleanup(cancel)
			return ctx
		}
	}
	cases := []printCase{
		{name: "connection refused"},
		{name: "connection reset", handler: raw("", "", true)},
		{name: "EOF", handler: dropConnection},
		{name: "malformed status line echoing the email", handler: raw("HTTP/1.1 "+printCustomer.Email+" OK\r\n\r\n", "", false)},
		{name: "malformed status line echoing the customer id", handler: raw("HTTP/1.1 "+printCustomer.CustomerID+" OK\r\n\r\n", "", false)},
		{name: "malformed header echoing the device id", handler: raw("HTTP/1.1 200 OK\r\n"+printCustomer.DeviceID+"\r\n\r\n", "", false)},
		{name: "attempt timeout", handler: hang, opts: []blueshift.Option{blueshift.WithTimeout(30 * time.Millisecond)}},
		{name: "caller deadline", handler: hang, ctx: deadline(50 * time.Millisecond)},
		{name: "cancellation", handler: hang, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(30*time.Millisecond, cancel)
			t.Cleanup(cancel)
			return ctx
		}},
		{name: "rate-limit wait", handler: okHandler, opts: []blueshift.Option{blueshift.WithRateLimit(0.5, 1)},
			ctx: deadline(50 * time.Millisecond), prepare: func(t *testing.T, c *blueshift.Client) {
				_, err := c.StartTracking(context.Background(), printCustomer) // takes the only token
				require.NoError(t, err)
			}},
		{name: "retry budget exhausted", handler: echoHandler(503), opts: []blueshift.Option{blueshift.WithRetryBudget(1)}},
		{name: "503 then the deadline", handler: echoHandler(503),
			opts: []blueshift.Option{blueshift.WithRetryWait(time.Hour, time.Hour)}, ctx: deadline(time.Minute)},
		{name: "503 then EOF", handler: sequence(echoHandler(503), dropConnection)},
	}
	for _, status := range []int{301, 302, 307, 400, 401, 403, 404, 409, 413, 418, 422, 429, 500, 502, 503, 504} {
		cases = append(cases, printCase{name: fmt.Sprint("status ", status), handler: echoHandler(status)})
	}
	return cases
}

// printers prints v every way a user may: fmt verbs, slog's JSON and text
// handlers, and testify's failure messages (which use %#v, %+v, and
// reflection with methods disabled for the diff of two values).
func printers(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	for name, h := range map[string]func(io.Writer) slog.Handler{
		"slog JSON": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
		"slog text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
	} {
		var b strings.Builder
		slog.New(h(&b)).Error("failed", "value", v)
		out[name] = b.String()
	}
	var ct captureT
	assert.Nil(&ct, v)
	if err, ok := v.(error); ok {
		assert.NoError(&ct, err)
	}
	assert.Equal(&ct, nil, v)
	assert.Equal(&ct, v, zeroOf(v)) // same type: testify prints a reflection diff
	out["testify"] = ct.String()
	return out
}

var otherClient, _ = blueshift.NewClient("other-key-0000", blueshift.WithBaseURL("https://other.example"))

// zeroOf returns a different value of v's type, for testify's diff.
func zeroOf(v any) any {
	switch v := v.(type) {
	case *blueshift.APIError:
		return &blueshift.APIError{StatusCode: v.StatusCode}
	case blueshift.APIError:
		return blueshift.APIError{}
	case *blueshift.RequestError:
		return &blueshift.RequestError{Path: v.Path}
	case blueshift.RequestError:
		return blueshift.RequestError{}
	case *blueshift.Client:
		return otherClient
	case blueshift.Client:
		return *otherClient
	}
	return nil
}

// printable lists what a failing call hands the user: the error, every
// exported error type in it as pointer and as value, and the client.
func printable(err error, client *blueshift.Client) map[string]any {
	values := map[string]any{"error": err, "*Client": client, "Client": *client}
	var apiErr *blueshift.APIError
	if errors.As(err, &apiErr) {
		values["*APIError"], values["APIError"] = apiErr, *apiErr
	}
	var reqErr *blueshift.RequestError
	if errors.As(err, &reqErr) {
		values["*RequestError"], values["RequestError"] = reqErr, *reqErr
		values["RequestError.Err"] = reqErr.Err
	}
	return values
}

func TestNoSecretInAnyPrintOfAnyValue(t *testing.T) {
	for _, tc := range printCases() {
		t.Run(tc.name, func(t *testing.T) {
			base := closedPort(t)
			if tc.handler != nil {
				_, rec := setup(t, tc.handler)
				rec.Config.ErrorLog = discardLog()
				base = rec.URL
			}
			opts := append([]blueshift.Option{blueshift.WithBaseURL(base), blueshift.WithRetryMax(2),
				blueshift.WithRetryWait(time.Millisecond, 5*time.Millisecond), blueshift.WithRetryBudget(0)}, tc.opts...)
			client, err := blueshift.NewClient(printKey, opts...)
			require.NoError(t, err)
			if tc.prepare != nil {
				tc.prepare(t, client)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(t)
			}
			_, err = client.StartTracking(ctx, printCustomer)
			require.Error(t, err)
			for what, v := range printable(err, client) {
				for how, out := range printers(v) {
					assertNoSecret(t, what+" through "+how, out)
				}
			}
		})
	}
}

// TestCausesStayReachable checks that redacting RequestError.Err keeps
// errors.Is and errors.As working on what net/http returned.
func TestCausesStayReachable(t *testing.T) {
	client, _ := setup(t, dropConnection, blueshift.WithRetryMax(0))
	_, err := client.StartTracking(context.Background(), printCustomer)
	assert.ErrorIs(t, err, io.EOF)
	var urlErr interface{ Unwrap() error }
	require.ErrorAs(t, err, &urlErr)

	refused, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(closedPort(t)), blueshift.WithRetryMax(0))
	require.NoError(t, err)
	_, err = refused.StartTracking(context.Background(), printCustomer)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "dial", opErr.Op)
}

// TestResponseNeverPrintsASecret covers the value a successful call
// returns, from a server that echoes secrets in its status and request id.
func TestResponseNeverPrintsASecret(t *testing.T) {
	echo := echoAll()
	_, rec := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "req-"+printCustomer.Email)
		msg, _ := json.Marshal(echo)
		fmt.Fprintf(w, `{"status":%s}`, msg)
	})
	client, err := blueshift.NewClient(printKey, blueshift.WithBaseURL(rec.URL))
	require.NoError(t, err)
	resp, err := client.StartTracking(context.Background(), printCustomer)
	require.NoError(t, err)
	assert.Contains(t, resp.Status, "[redacted]")
	for _, v := range []any{resp, *resp} {
		for how, out := range printers(v) {
			assertNoSecret(t, fmt.Sprintf("%T through %s", v, how), out)
		}
	}
}
