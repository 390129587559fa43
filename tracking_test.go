package blueshift_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// track calls StartTracking or StopTracking, so that both endpoints run
// through the same table tests.
type track func(*blueshift.Client, context.Context, blueshift.Customer) (*blueshift.Response, error)

var endpoints = []struct {
	name string
	path string
	call track
}{
	{"StartTracking", "/api/v1/customers/unforget", (*blueshift.Client).StartTracking},
	{"StopTracking", "/api/v1/customers/forget", (*blueshift.Client).StopTracking},
}

func TestRequestIsExactlyWhatBlueshiftDocuments(t *testing.T) {
	for _, ep := range endpoints {
		for _, tc := range []struct {
			name     string
			customer blueshift.Customer
			wantBody string
		}{
			{"email", blueshift.Customer{Email: "ann@example.com"}, `{"email":"ann@example.com"}`},
			{"customer id", blueshift.Customer{CustomerID: "CUST-12345"}, `{"customer_id":"CUST-12345"}`},
			{"both", blueshift.Customer{Email: "ann@example.com", CustomerID: "CUST-12345"}, `{"email":"ann@example.com","customer_id":"CUST-12345"}`},
			{"trimmed", blueshift.Customer{Email: "  ann@example.com\n", CustomerID: " "}, `{"email":"ann@example.com"}`},
			{"unicode", blueshift.Customer{Email: "zoë@example.com"}, `{"email":"zoë@example.com"}`},
		} {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				client, rec := setup(t, nil, blueshift.WithUserAgent("billing/2.1"))
				resp, err := ep.call(client, context.Background(), tc.customer)
				require.NoError(t, err)
				assert.Equal(t, &blueshift.Response{StatusCode: 200, Status: "ok", RequestID: "req-ok", Attempts: 1}, resp)

				reqs := rec.Requests()
				require.Len(t, reqs, 1)
				got := reqs[0]
				assert.Equal(t, http.MethodPost, got.Method)
				assert.Equal(t, ep.path, got.Path)
				assert.Equal(t, tc.wantBody, got.Body)
				assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
				assert.Equal(t, "Basic YWJjMTIzOg==", got.Header.Get("Authorization"))
				assert.Equal(t, "blueshift-go/"+blueshift.Version+" billing/2.1", got.Header.Get("User-Agent"))
			})
		}
	}
}

func TestAuthorizationHeaderIsKeyWithTrailingColon(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"abc123", "Basic YWJjMTIzOg=="},
		{"abc123\n", "Basic YWJjMTIzOg=="}, // read from a file
		{"  abc123\t", "Basic YWJjMTIzOg=="},
		{"k", "Basic azo="},
	} {
		t.Run(fmt.Sprintf("%q", tc.key), func(t *testing.T) {
			_, rec := setup(t, nil)
			client, err := blueshift.NewClient(tc.key, blueshift.WithBaseURL(rec.URL))
			require.NoError(t, err)
			_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rec.Requests()[0].Header.Get("Authorization"))
			user, pass, ok := httptestBasicAuth(rec.Requests()[0].Header)
			assert.True(t, ok)
			assert.Equal(t, strings.TrimSpace(tc.key), user)
			assert.Empty(t, pass)
		})
	}
}

func httptestBasicAuth(h http.Header) (string, string, bool) {
	r := &http.Request{Header: h}
	return r.BasicAuth()
}

func TestMissingIdentifierSendsNothing(t *testing.T) {
	for _, ep := range endpoints {
		for _, c := range []blueshift.Customer{{}, {Email: "  "}, {CustomerID: "\t\n"}, {Email: " ", CustomerID: " "}} {
			t.Run(fmt.Sprintf("%s/%q", ep.name, c), func(t *testing.T) {
				client, rec := setup(t, nil)
				resp, err := ep.call(client, context.Background(), c)
				assert.Nil(t, resp)
				assert.ErrorIs(t, err, blueshift.ErrMissingIdentifier)
				assert.Zero(t, rec.Count())
			})
		}
	}
}

func TestAny2xxIsSuccess(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		wantStatus string
	}{
		{"documented", 200, `{"status": "ok"}`, "ok"},
		{"empty body", 200, ``, ""},
		{"plain text", 200, `OK`, ""},
		{"extra fields", 200, `{"status":"ok","uuid":"x","n":1}`, "ok"},
		{"broken json", 200, `{"status":`, ""},
		{"status not a string", 200, `{"status":1}`, ""},
		{"201", 201, `{"status":"created"}`, "created"},
		{"204", 204, ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, rec := setup(t, respond(tc.status, tc.body))
			resp, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "C-9"})
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.wantStatus, resp.Status)
			assert.Equal(t, "req-1", resp.RequestID)
			assert.Equal(t, 1, resp.Attempts)
			assert.Equal(t, 1, rec.Count())
		})
	}
}

// statusCases is every documented status with each body shape Blueshift
// sends for it; RetryMax is 2 in setup, so retried statuses take 3 attempts.
var statusCases = []struct {
	status      int
	body        string
	sentinel    error
	wantMessage string
	wantFields  map[string][]string
	retried     bool
}{
	{400, `{"errors": {"email": ["can't be blank"]}}`, blueshift.ErrBadRequest, "email can't be blank", map[string][]string{"email": {"can't be blank"}}, false},
	{400, `{"errors": {"email": ["is invalid", "is too long"], "customer_id": ["is invalid"]}}`, blueshift.ErrBadRequest, "customer_id is invalid; email is invalid, is too long", map[string][]string{"email": {"is invalid", "is too long"}, "customer_id": {"is invalid"}}, false},
	{400, `{"error": "bad_request"}`, blueshift.ErrBadRequest, "bad_request", nil, false},
	{401, `{"message": "Not authorized"}`, blueshift.ErrUnauthorized, "Not authorized", nil, false},
	{403, `{"message": "Permission denied"}`, blueshift.ErrForbidden, "Permission denied", nil, false},
	{404, `{"message": "Customer not found"}`, blueshift.ErrNotFound, "Customer not found", nil, false},
	{404, `{"status": "404", "error": "Not Found"}`, blueshift.ErrNotFound, "Not Found", nil, false},
	{404, `{"errors": [{"title": "error", "detail": "Error: Resource not found"}], "meta": {"x": 1}}`, blueshift.ErrNotFound, "Error: Resource not found", nil, false},
	{404, `{"errors": [{"title": "Resource missing"}]}`, blueshift.ErrNotFound, "Resource missing", nil, false},
	{409, `{"message": "Conflict"}`, blueshift.ErrConflict, "Conflict", nil, true},
	{413, `{"message": "Payload too large"}`, blueshift.ErrPayloadTooLarge, "Payload too large", nil, false},
	{422, `{"message": "Invalid schedule values"}`, blueshift.ErrUnprocessableEntity, "Invalid schedule values", nil, false},
	{422, `{"success": false, "error": "Validation failed"}`, blueshift.ErrUnprocessableEntity, "Validation failed", nil, false},
	{429, `{"message": "Rate limit exceeded"}`, blueshift.ErrRateLimited, "Rate limit exceeded", nil, true},
	{500, `{"message": "Internal Server Error - Please contact support for more information."}`, blueshift.ErrInternalServer, "Internal Server Error - Please contact support for more information.", nil, true},
	{502, `<html><body><h1>502 Bad Gateway</h1></body></html>`, blueshift.ErrBadGateway, "Bad Gateway", nil, true},
	{503, ``, blueshift.ErrServiceUnavailable, "Service Unavailable", nil, true},
	{504, `{"message": "Gateway Timeout - The server took too long to respond. Retry with exponential backoff."}`, blueshift.ErrGatewayTimeout, "Gateway Timeout - The server took too long to respond. Retry with exponential backoff.", nil, true},
	{504, `{"message": "Gateway Ti`, blueshift.ErrGatewayTimeout, "Gateway Timeout", nil, true},
}

func TestEveryDocumentedStatusBecomesATypedError(t *testing.T) {
	allSentinels := []error{
		blueshift.ErrBadRequest, blueshift.ErrUnauthorized, blueshift.ErrForbidden, blueshift.ErrNotFound,
		blueshift.ErrConflict, blueshift.ErrPayloadTooLarge, blueshift.ErrUnprocessableEntity, blueshift.ErrRateLimited,
		blueshift.ErrInternalServer, blueshift.ErrBadGateway, blueshift.ErrServiceUnavailable, blueshift.ErrGatewayTimeout,
	}
	for _, ep := range endpoints {
		for _, tc := range statusCases {
			t.Run(fmt.Sprintf("%s/%d/%s", ep.name, tc.status, tc.body), func(t *testing.T) {
				client, rec := setup(t, respond(tc.status, tc.body))
				resp, err := ep.call(client, context.Background(), blueshift.Customer{Email: "ann@example.com"})
				assert.Nil(t, resp)
				require.Error(t, err)

				for _, s := range allSentinels {
					assert.Equal(t, s == tc.sentinel, errors.Is(err, s), "errors.Is(err, %v)", s)
				}
				var apiErr *blueshift.APIError
				require.ErrorAs(t, err, &apiErr)
				wantAttempts := 1
				if tc.retried {
					wantAttempts = 3
				}
				assert.Equal(t, tc.status, apiErr.StatusCode)
				assert.Equal(t, tc.wantMessage, apiErr.Message)
				assert.Equal(t, tc.wantFields, apiErr.FieldErrors)
				assert.Equal(t, "req-1", apiErr.RequestID)
				assert.Equal(t, wantAttempts, apiErr.Attempts)
				assert.Equal(t, tc.body, string(apiErr.Body))
				assert.Equal(t, tc.retried, apiErr.Retryable())
				assert.Equal(t, wantAttempts, rec.Count(), "requests the server saw")
				assert.NotContains(t, err.Error(), "ann@example.com")
			})
		}
	}
}

func TestErrorStringCarriesStatusMessageAndRequestID(t *testing.T) {
	client, _ := setup(t, respond(429, `{"message": "Rate limit exceeded"}`), blueshift.WithRetryMax(0))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	assert.EqualError(t, err, "blueshift: 429 Too Many Requests: Rate limit exceeded (request id req-1)")

	client, _ = setup(t, respond(503, `{"message": "Service Unavailable - try later"}`))
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	assert.EqualError(t, err, "blueshift: 503 Service Unavailable: Service Unavailable - try later (request id req-1, 3 attempts)")
}

func TestUndocumentedStatusMatchesNoSentinel(t *testing.T) {
	client, _ := setup(t, respond(418, `{"message": "teapot"}`))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	var apiErr *blueshift.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 418, apiErr.StatusCode)
	assert.False(t, apiErr.Retryable())
	for _, s := range []error{blueshift.ErrBadRequest, blueshift.ErrNotFound, blueshift.ErrRateLimited, blueshift.ErrRedirectRefused} {
		assert.NotErrorIs(t, err, s)
	}
}

func TestServerEchoingIdentifiersIsRedactedFromErrors(t *testing.T) {
	client, _ := setup(t, respond(422, `{"message": "ann@example.com / CUST-9 is not allowed"}`))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com", CustomerID: "CUST-9"})
	require.Error(t, err)
	assert.Equal(t, "blueshift: 422 Unprocessable Entity: [redacted] / [redacted] is not allowed (request id req-1)", err.Error())
}

func TestRetriesThenSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first http.HandlerFunc
	}{
		{"409", respond(409, `{"message":"Conflict"}`)},
		{"429", respond(429, `{"message":"Rate limit exceeded"}`)},
		{"500", respond(500, `{"message":"oops"}`)},
		{"502", respond(502, `<html>bad gateway</html>`)},
		{"503", respond(503, ``)},
		{"504", respond(504, `{"message":"Gateway Timeout"}`)},
		{"dropped connection", dropConnection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, rec := setup(t, sequence(tc.first, tc.first, okHandler))
			resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
			require.NoError(t, err)
			assert.Equal(t, 3, resp.Attempts)
			assert.Equal(t, "ok", resp.Status)
			assert.Equal(t, 3, rec.Count())
			for _, r := range rec.Requests() {
				assert.Equal(t, `{"email":"ann@example.com"}`, r.Body, "each retry re-sends the whole body")
			}
		})
	}
}

func TestDroppedConnectionsExhaustRetries(t *testing.T) {
	client, rec := setup(t, dropConnection)
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.Error(t, err)
	var apiErr *blueshift.APIError
	assert.False(t, errors.As(err, &apiErr), "no response came back")
	assert.Contains(t, err.Error(), "(3 attempts)")
	assert.NotContains(t, err.Error(), "ann@example.com")
	assert.Equal(t, 3, rec.Count())
}

func TestNetworkErrorAfterAResponseKeepsTheResponse(t *testing.T) {
	client, _ := setup(t, sequence(respond(503, `{"message":"down"}`), dropConnection))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	var apiErr *blueshift.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode)
	assert.Equal(t, "down", apiErr.Message)
}

func TestRetryMaxZeroSendsOnce(t *testing.T) {
	client, rec := setup(t, respond(503, ``), blueshift.WithRetryMax(0))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	assert.ErrorIs(t, err, blueshift.ErrServiceUnavailable)
	assert.Equal(t, 1, rec.Count())
}

func TestCancellationStopsTheBackoffAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	client, rec := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			time.AfterFunc(20*time.Millisecond, cancel)
		}
		respond(503, `{"message":"Service Unavailable"}`)(w, r)
	}, blueshift.WithRetryWait(time.Hour, time.Hour))

	start := time.Now()
	_, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	elapsed := time.Since(start)

	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, blueshift.ErrServiceUnavailable)
	var apiErr *blueshift.APIError
	require.ErrorAs(t, err, &apiErr, "the last response stays reachable")
	assert.Equal(t, 503, apiErr.StatusCode)
	assert.Equal(t, 1, rec.Count())
	assert.Less(t, elapsed, 10*time.Second, "an hour-long backoff was not waited out")
}

func TestDeadlineShorterThanBackoff(t *testing.T) {
	client, rec := setup(t, respond(429, `{"message":"Rate limit exceeded"}`), blueshift.WithRetryWait(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()

	_, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, blueshift.ErrRateLimited)
	assert.Equal(t, 1, rec.Count())
}

func TestAlreadyCancelledContextSendsNothing(t *testing.T) {
	client, rec := setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, rec.Count())
}

func TestPerAttemptTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slowOnce := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	client, rec := setup(t, sequence(slowOnce, okHandler), blueshift.WithTimeout(400*time.Millisecond)) // room for the second attempt on a loaded machine
	resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Attempts)
	assert.Equal(t, 2, rec.Count())
}

func TestRedirectsAreNeverFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var targetHits atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				targetHits.Add(1)
			}))
			defer target.Close()
			client, rec := setup(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, status)
			})

			_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
			assert.ErrorIs(t, err, blueshift.ErrRedirectRefused)
			assert.Contains(t, err.Error(), "redirect refused")
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, status, apiErr.StatusCode)
			assert.Equal(t, 1, rec.Count())
			assert.Zero(t, targetHits.Load(), "the redirect target saw no request")
		})
	}
}

func TestHostileBodiesAreReadBounded(t *testing.T) {
	const size = 64 << 20
	huge := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for written := 0; written < size; written += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up, as it should
				}
			}
		}
	}
	for _, status := range []int{200, 400, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			client, _ := setup(t, huge(status), blueshift.WithRetryMax(0))
			resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
			if status == 200 {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
				return
			}
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Len(t, apiErr.Body, 64<<10)
			assert.Equal(t, http.StatusText(status), apiErr.Message)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	client, rec := setup(t, sequence(respond(503, ``), okHandler))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: fmt.Sprint(i)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, 51, rec.Count(), "one 503, retried once, then 50 successes")
}

func TestLoggingIsFactsOnly(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logger := slogTo(&logs, &mu)
	client, _ := setup(t, sequence(respond(503, `{"message":"down"}`), okHandler), blueshift.WithLogger(logger))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com", CustomerID: "CUST-9"})
	require.NoError(t, err)

	out := logs.String()
	assert.Contains(t, out, "status=503")
	assert.Contains(t, out, "status=200")
	assert.Contains(t, out, "request_id=req-1")
	assert.Contains(t, out, "attempt=2")
	assert.Contains(t, out, "path=/api/v1/customers/unforget")
	assert.Contains(t, out, "waited=")
	for _, secret := range []string{testKey, "YWJjMTIzOg==", "ann@example.com", "CUST-9", "Authorization"} {
		assert.NotContains(t, out, secret)
	}
}

func TestClientNeverPrintsItsKey(t *testing.T) {
	const key = "super-secret-key-1234"
	client, err := blueshift.NewClient(key, blueshift.WithRegion(blueshift.RegionEU))
	require.NoError(t, err)
	type holder struct {
		C *blueshift.Client
		V blueshift.Client
	}
	printed := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", client, client, client, client, *client, holder{client, *client}, holder{client, *client})
	assert.NotContains(t, printed, key)
	assert.NotContains(t, printed, "c3VwZXItc2VjcmV0LWtleS0xMjM0Og==")
	assert.Contains(t, printed, "https://api.eu.getblueshift.com")
}

func TestUnauthorizedErrorDoesNotCarryTheKey(t *testing.T) {
	client, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"message": "Not authorized: %s %s"}`, r.Header.Get("Authorization"), body)
	})
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	assert.ErrorIs(t, err, blueshift.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "ann@example.com")
	assert.NotContains(t, err.Error(), testKey)
}

func TestWithoutALoggerNothingIsWritten(t *testing.T) {
	// Capture everything a library could print to: os.Stdout, os.Stderr,
	// and the standard and slog default loggers.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	log.SetOutput(w)
	defer func() {
		os.Stdout, os.Stderr = stdout, stderr
		log.SetOutput(os.Stderr)
	}()

	client, _ := setup(t, sequence(respond(503, `{"message":"down"}`), dropConnection, respond(401, `{"message":"Not authorized"}`)))
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.ErrorIs(t, err, blueshift.ErrUnauthorized)

	os.Stdout, os.Stderr = stdout, stderr
	log.SetOutput(os.Stderr)
	require.NoError(t, w.Close())
	printed, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Empty(t, string(printed))
}
