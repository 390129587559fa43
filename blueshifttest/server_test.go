package blueshifttest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// newClient returns an SDK client for srv with fast retries.
func newClient(t *testing.T, srv *blueshifttest.Server, opts ...blueshift.Option) *blueshift.Client {
	t.Helper()
	base := []blueshift.Option{blueshift.WithBaseURL(srv.URL), blueshift.WithRetryWait(time.Millisecond, 2*time.Millisecond)}
	client, err := blueshift.NewClient(srv.APIKey, append(base, opts...)...)
	require.NoError(t, err)
	return client
}

// post sends a raw request to the fake and returns status, body and request id.
func post(t *testing.T, srv *blueshifttest.Server, method, path, auth, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("X-Request-Id")
}

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

func TestFakeAnswersLikeBlueshift(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	good := basic(srv.APIKey + ":")
	for _, tc := range []struct {
		name, method, path, auth, body string
		wantStatus                     int
		wantBody                       string
	}{
		{"start tracking", "POST", "/api/v1/customers/unforget", good, `{"email":"ann@example.com"}`, 200, `{"status":"ok"}`},
		{"stop tracking", "POST", "/api/v1/customers/forget", good, `{"customer_id":"C1"}`, 200, `{"status":"ok"}`},
		{"no trailing colon", "POST", "/api/v1/customers/unforget", basic(srv.APIKey), `{"email":"ann@example.com"}`, 401, `{"message":"Not authorized"}`},
		{"wrong key", "POST", "/api/v1/customers/unforget", basic("other:"), `{"email":"ann@example.com"}`, 401, `{"message":"Not authorized"}`},
		{"non-empty password", "POST", "/api/v1/customers/unforget", basic(srv.APIKey + ":x"), `{"email":"ann@example.com"}`, 401, `{"message":"Not authorized"}`},
		{"no auth", "POST", "/api/v1/customers/unforget", "", `{"email":"ann@example.com"}`, 401, `{"message":"Not authorized"}`},
		{"bearer", "POST", "/api/v1/customers/unforget", "Bearer " + srv.APIKey, `{"email":"ann@example.com"}`, 401, `{"message":"Not authorized"}`},
		{"wrong path", "POST", "/api/v1/customers/remember", good, `{"email":"ann@example.com"}`, 404, `{"status":"404","error":"Not Found"}`},
		{"wrong method", "GET", "/api/v1/customers/unforget", good, ``, 405, `{"message":"Method not allowed"}`},
		{"not json", "POST", "/api/v1/customers/unforget", good, `email=a@b`, 400, `{"error":"bad_request"}`},
		{"json array", "POST", "/api/v1/customers/unforget", good, `[]`, 400, `{"error":"bad_request"}`},
		{"no identifier", "POST", "/api/v1/customers/unforget", good, `{}`, 400, `{"errors":{"email":["can't be blank"]}}`},
		{"blank identifiers", "POST", "/api/v1/customers/forget", good, `{"email":" ","customer_id":""}`, 400, `{"errors":{"email":["can't be blank"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, requestID := post(t, srv, tc.method, tc.path, tc.auth, tc.body)
			assert.Equal(t, tc.wantStatus, status)
			assert.JSONEq(t, tc.wantBody, body)
			assert.Regexp(t, `^fake-\d{8}$`, requestID)
		})
	}
}

func TestFakeKeepsTrackingState(t *testing.T) {
	srv := blueshifttest.NewServer(blueshifttest.WithAPIKey("my-key"))
	defer srv.Close()
	assert.Equal(t, "my-key", srv.APIKey)
	client := newClient(t, srv)
	ctx := context.Background()
	ann := blueshift.Customer{Email: "ann@example.com", CustomerID: "A-1"}

	assert.False(t, srv.IsTracked(ann), "unknown customers are not tracked")
	_, err := client.StartTracking(ctx, ann)
	require.NoError(t, err)
	assert.True(t, srv.IsTracked(ann))
	assert.True(t, srv.IsTracked(blueshift.Customer{Email: "ann@example.com"}), "by either identifier")
	assert.True(t, srv.IsTracked(blueshift.Customer{CustomerID: "A-1"}))

	_, err = client.StopTracking(ctx, blueshift.Customer{CustomerID: "A-1"})
	require.NoError(t, err)
	assert.False(t, srv.IsTracked(ann), "stopped by customer id")
	assert.True(t, srv.IsTracked(blueshift.Customer{Email: "ann@example.com"}))
	assert.False(t, srv.IsTracked(blueshift.Customer{}))

	_, err = client.StartTracking(ctx, blueshift.Customer{CustomerID: "A-1"})
	require.NoError(t, err)
	assert.True(t, srv.IsTracked(ann))

	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "/api/v1/customers/forget", reqs[1].Path)
	assert.Equal(t, `{"customer_id":"A-1"}`, string(reqs[1].Body))
	assert.Equal(t, "Basic bXkta2V5Og==", reqs[0].Header.Get("Authorization"))

	srv.Reset()
	assert.Empty(t, srv.Requests())
	assert.False(t, srv.IsTracked(ann))
}

func TestFailNextUsesDocumentedBodies(t *testing.T) {
	for status, sentinel := range map[int]error{
		400: blueshift.ErrBadRequest, 401: blueshift.ErrUnauthorized, 403: blueshift.ErrForbidden,
		404: blueshift.ErrNotFound, 409: blueshift.ErrConflict, 413: blueshift.ErrPayloadTooLarge,
		422: blueshift.ErrUnprocessableEntity, 429: blueshift.ErrRateLimited, 500: blueshift.ErrInternalServer,
		502: blueshift.ErrBadGateway, 503: blueshift.ErrServiceUnavailable, 504: blueshift.ErrGatewayTimeout,
	} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := blueshifttest.NewServer()
			defer srv.Close()
			client := newClient(t, srv, blueshift.WithRetryMax(0))
			srv.FailNext(1, status)
			_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
			assert.ErrorIs(t, err, sentinel)
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "fake-00000001", apiErr.RequestID)
			assert.True(t, strings.HasPrefix(string(apiErr.Body), "{"), "a documented JSON body: %s", apiErr.Body)
			assert.NotEmpty(t, apiErr.Message)
			assert.False(t, srv.IsTracked(blueshift.Customer{Email: "ann@example.com"}))

			_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
			require.NoError(t, err, "only the next request failed")
		})
	}
}

func TestFailuresAreAbsorbedByRetries(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	client := newClient(t, srv)
	srv.FailNext(1, 429)
	srv.FailNext(1, 503)
	srv.DropNext(1)
	resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	assert.Equal(t, 4, resp.Attempts)
	assert.Equal(t, "fake-00000004", resp.RequestID)
	assert.Len(t, srv.Requests(), 4)
}

func TestDropNextClosesWithoutAResponse(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	client := newClient(t, srv, blueshift.WithRetryMax(0))
	srv.DropNext(1)
	_, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.Error(t, err)
	var apiErr *blueshift.APIError
	assert.False(t, errors.As(err, &apiErr))
	assert.Contains(t, err.Error(), "EOF")
}

func TestSetDelayLetsUsersTestTheirTimeouts(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	srv.SetDelay(time.Hour)
	client := newClient(t, srv, blueshift.WithRetryMax(0))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, srv.IsTracked(blueshift.Customer{Email: "ann@example.com"}))
}

// TestApplyLateAppliesAfterTheClientGaveUp reproduces a late apply: the
// client's stop times out, its start is applied, and then the old stop
// lands and wins.
func TestApplyLateAppliesAfterTheClientGaveUp(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	ann := blueshift.Customer{Email: "ann@example.com"}
	client := newClient(t, srv, blueshift.WithRetryMax(0))
	srv.ApplyLate(1, 300*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := client.StopTracking(ctx, ann)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var reqErr *blueshift.RequestError
	require.ErrorAs(t, err, &reqErr)
	assert.Equal(t, 1, reqErr.Uncertain, "the stop reached the fake without an answer")

	_, err = client.StartTracking(context.Background(), ann)
	require.NoError(t, err, "only the next request was late")
	assert.True(t, srv.IsTracked(ann))

	assert.Eventually(t, func() bool { return !srv.IsTracked(ann) }, 5*time.Second, 10*time.Millisecond,
		"the late stop lands after the start")
	assert.Len(t, srv.Requests(), 2)
}

// countingReader is an endless body that counts what was read of it.
type countingReader struct{ n atomic.Int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

func TestHugeBodiesGet413WithoutBeingRead(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	const hundredMiB = 100 << 20
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length declared %v", declared), func(t *testing.T) {
			body := &countingReader{}
			req, err := http.NewRequest("POST", srv.URL+blueshifttest.StartTrackingPath, io.LimitReader(body, hundredMiB))
			require.NoError(t, err)
			if declared {
				req.ContentLength = hundredMiB
			}
			req.SetBasicAuth(srv.APIKey, "")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, 413, resp.StatusCode)
			assert.JSONEq(t, `{"message":"Payload too large"}`, string(b))
			assert.Less(t, body.n.Load(), int64(hundredMiB/4), "the fake stopped reading early")
		})
	}
}

func TestFakeIsSafeForConcurrentUse(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	client := newClient(t, srv)
	srv.FailNext(20, 503)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: fmt.Sprint(i)})
			assert.NoError(t, err)
			_ = srv.Requests()
		}()
	}
	wg.Wait()
	assert.Len(t, srv.Requests(), 120)
	for i := range 100 {
		assert.True(t, srv.IsTracked(blueshift.Customer{CustomerID: fmt.Sprint(i)}))
	}
}

func TestRecordLimit(t *testing.T) {
	srv := blueshifttest.NewServer(blueshifttest.WithRecordLimit(2))
	defer srv.Close()
	client := newClient(t, srv)
	for i := range 5 {
		_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	assert.Len(t, srv.Requests(), 2)
	assert.True(t, srv.IsTracked(blueshift.Customer{CustomerID: "4"}), "state is kept whatever the limit")
}

func TestFailRandomly(t *testing.T) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	srv.FailRandomly(1)
	client := newClient(t, srv, blueshift.WithRetryMax(0))
	_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "1"})
	var apiErr *blueshift.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Contains(t, []int{429, 503}, apiErr.StatusCode)
	srv.FailRandomly(0)
	_, err = client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "1"})
	assert.NoError(t, err)
}
