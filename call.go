package blueshift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// call is the state of one API call across its attempts. It travels in the
// request's context, because go-retryablehttp's hooks and the transport are
// shared by all calls and see only the request or its context.
type call struct {
	path     string
	secrets  [6]string // the customer's identifiers and the key's two forms: never in an error or log
	attempts int       // requests sent so far
	last     *APIError // the last non-2xx response, if any
	ended    time.Time // when the last attempt ended (only with a logger)
	// resent is set once the call has resent at once after a dead
	// keep-alive connection; later failures back off as usual.
	resent bool
	// conns and reused are what net/http reported (httptrace.GotConn)
	// during the current attempt: how many connections it took (more than
	// one when net/http itself resent on a dead connection), and whether
	// the last one was a reused keep-alive connection.
	conns  atomic.Int32
	reused atomic.Bool
	trace  httptrace.ClientTrace
	// rateEpoch and rateGranted are the adaptive rate's epoch and the time
	// when this attempt was granted (ratecontrol.go).
	rateEpoch   uint64
	rateGranted time.Time
	hook        *hookState // nil without hooks (hooks.go)
	// uncertain counts the attempts that may have been applied without a
	// definite answer: sent without a response, or answered with a 5xx.
	uncertain int
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	st, _ := ctx.Value(callKey{}).(*call)
	return st
}

// gotConn is the httptrace hook that counts connections per attempt.
func (st *call) gotConn(info httptrace.GotConnInfo) {
	st.conns.Add(1)
	st.reused.Store(info.Reused)
}

// countUncertain counts an attempt that may have been applied without a
// definite answer: it got a 5xx, or it failed after net/http had a
// connection for it (so the request may have been written). An attempt
// that never got a connection sent nothing.
func (st *call) countUncertain(resp *http.Response, err error) {
	if (err == nil && resp.StatusCode >= 500) || (err != nil && st.conns.Load() > 0) {
		st.uncertain++
	}
}

// maxSuccessBody bounds what is read of a 2xx response.
const maxSuccessBody = 64 << 10

// post sends body as JSON to path with retries, and returns the outcome of
// the call: a Response for a 2xx, an *APIError for a final non-2xx answer,
// otherwise a *RequestError.
func (c *Client) post(ctx context.Context, path string, body []byte, identifiers [4]string) (out *Response, err error) {
	if ctx == nil {
		return nil, errors.New("blueshift: nil context")
	}
	st := &call{path: path}
	copy(st.secrets[:], identifiers[:])
	keySecrets := c.cred.secrets()
	copy(st.secrets[4:], keySecrets[:])
	st.trace.GotConn = st.gotConn
	if c.hooks != nil {
		hookCtx := c.hooks.callStart(ctx, st)
		ctx = hookCtx
		defer func() { c.hooks.callDone(hookCtx, st, out, err) }()
	}
	ctx = httptrace.WithClientTrace(context.WithValue(ctx, callKey{}, st), &st.trace)

	// The body goes to go-retryablehttp as []byte: it is then rewound for
	// each retry without being copied.
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("blueshift: building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	if err := ctx.Err(); err != nil {
		return nil, c.callError(st, err)
	}
	if err := c.waitForRateTimed(ctx, st); err != nil {
		return nil, c.callError(st, err)
	}
	resp, err := c.retry.Do(req)
	if err != nil {
		return nil, c.callError(st, err)
	}
	defer resp.Body.Close()
	if c.budget != nil {
		c.budget.succeeded(st.attempts - 1)
	}
	return successResponse(resp, st), nil
}

// successResponse reads what a 2xx answer says.
func successResponse(resp *http.Response, st *call) *Response {
	out := &Response{StatusCode: resp.StatusCode, RequestID: requestID(resp, st.secrets[:]), Attempts: st.attempts, Uncertain: st.uncertain}
	if b, _ := readBounded(resp, maxSuccessBody); len(b) > 0 && b[0] == '{' {
		var ok struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(b, &ok) == nil {
			out.Status = safeText(ok.Status, st.secrets[:], maxMessage)
		}
	}
	return out
}

// callError turns what ended a call into the caller's error: the
// *APIError of the last response when that answer was final, otherwise a
// *RequestError holding the cause and the last *APIError, if a response had
// come back before it, so that errors.Is finds the cause and errors.As
// still finds the response.
func (c *Client) callError(st *call, err error) error {
	if apiErr, ok := err.(*APIError); ok {
		return apiErr
	}
	return &RequestError{Path: st.path, Attempts: st.attempts, Uncertain: st.uncertain, Err: redactedCause(err, st.secrets[:], c.baseURL+st.path), Last: st.last}
}

// readBounded reads at most limit bytes of a response body and closes
// nothing. What is beyond limit is never read: a hostile 64 MiB body costs
// 64 KiB. The buffer is sized from Content-Length when the server sent one,
// so the usual small answer costs one small allocation.
func readBounded(resp *http.Response, limit int) ([]byte, error) {
	size := 512
	if n := resp.ContentLength; n >= 0 && n < int64(limit) {
		size = int(n) + 1 // room for the read that sees EOF
	}
	buf := make([]byte, 0, min(size, limit))
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := resp.Body.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// closeAndReturnError is the go-retryablehttp ErrorHandler: checkRetry has
// already read what it needs of the last response, so close it and pass
// the error on (unlike the library's default, which drops the response's
// status and body for a "giving up after N attempts" string).
func closeAndReturnError(resp *http.Response, err error, _ int) (*http.Response, error) {
	if resp != nil {
		resp.Body.Close()
	}
	return nil, err
}

// waitForRate blocks until the client's rate limiter, if any, lets one
// more request go, or ctx ends. A wait that could not end before ctx's
// deadline matches context.DeadlineExceeded (x/time/rate's own error does
// not).
func (c *Client) waitForRate(ctx context.Context) error {
	if c.adaptive != nil {
		return c.waitAdaptive(ctx) // ratecontrol.go
	}
	if c.limiter == nil {
		return nil
	}
	err := c.limiter.Wait(ctx)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("waiting for the rate limit would pass the deadline: %w", context.DeadlineExceeded)
}

// prepareRetry runs before each retry, after its backoff: it waits for
// the rate limiter.
func (c *Client) prepareRetry(req *http.Request) error {
	st := callFrom(req.Context())
	if st.hook != nil {
		st.hook.retryWait = time.Since(st.ended) // the backoff, for the hooks
	}
	return c.waitForRateTimed(req.Context(), st)
}
