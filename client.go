package blueshift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// Version is the version of this module, sent in the User-Agent header.
const Version = "0.1.0"

// Client calls Blueshift's customer API. Create one with NewClient or
// NewClientFromEnv and share it: a Client is safe for concurrent use by
// multiple goroutines, and holds no per-call state.
type Client struct {
	baseURL   string      // scheme://host[:port][/path], no trailing slash
	cred      *credential // behind a pointer: printing a Client copy shows only an address
	userAgent string
	retry     *retryablehttp.Client
	transport http.RoundTripper // the pool under the auth and timeout layers
	logger    *slog.Logger      // nil: log nothing
	limiter   *rate.Limiter     // nil: no rate limit
	budget    *retryBudget      // nil: no retry budget
}

// NewClient returns a client that authenticates with apiKey, a Blueshift
// User API key. Surrounding white space is trimmed from the key (keys read
// from files end in a newline). NewClient does not touch the network or the
// environment; it returns ErrMissingAPIKey for a blank key, ErrInvalidAPIKey
// for a malformed one, or the first error an option reports.
func NewClient(apiKey string, opts ...Option) (*Client, error) {
	cred, err := newCredential(apiKey)
	if err != nil {
		return nil, err
	}
	s := defaultSettings()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	return newClient(cred, &s), nil
}

// NewClientFromEnv returns a client configured from the environment:
// BLUESHIFT_API_KEY (required), BLUESHIFT_REGION ("us" or "eu") and
// BLUESHIFT_BASE_URL. Options given here win over the environment: a
// WithRegion or WithBaseURL option replaces both endpoint variables.
func NewClientFromEnv(opts ...Option) (*Client, error) {
	var explicit settings
	for _, opt := range opts {
		if opt != nil {
			_ = opt(&explicit) // errors are reported by NewClient below
		}
	}
	var fromEnv []Option
	if !explicit.endpointSet {
		if v := os.Getenv("BLUESHIFT_REGION"); v != "" {
			r, err := ParseRegion(v)
			if err != nil {
				return nil, fmt.Errorf("%w (from BLUESHIFT_REGION)", err)
			}
			fromEnv = append(fromEnv, WithRegion(r))
		}
		if v := os.Getenv("BLUESHIFT_BASE_URL"); v != "" {
			fromEnv = append(fromEnv, WithBaseURL(v))
		}
	}
	return NewClient(os.Getenv("BLUESHIFT_API_KEY"), append(fromEnv, opts...)...)
}

func newClient(cred *credential, s *settings) *Client {
	endpoint := s.baseURL
	if endpoint == nil {
		endpoint, _ = url.Parse(s.region.BaseURL())
	}

	transport := http.RoundTripper(nil)
	timeout := s.timeout
	if s.httpClient != nil {
		transport = s.httpClient.Transport
		if s.httpClient.Timeout > 0 && !s.timeoutSet {
			timeout = s.httpClient.Timeout
		}
	}
	if transport == nil {
		transport = newTransport(s.maxConnsPerHost)
	}

	c := &Client{
		baseURL:   endpoint.String(),
		cred:      cred,
		transport: transport,
		userAgent: "blueshift-go/" + Version,
		logger:    s.logger,
		limiter:   s.limiter,
	}
	if s.userAgent != "" {
		c.userAgent += " " + s.userAgent
	}
	if s.retryBudget > 0 {
		c.budget = newRetryBudget(s.retryBudget)
	}
	c.retry = &retryablehttp.Client{
		HTTPClient: &http.Client{
			// The attempt timeout is applied by attemptTimeout rather than
			// http.Client.Timeout: with Timeout set and a wrapping transport,
			// net/http starts a goroutine and a timer for every request.
			Transport: newAuthTransport(&attemptTimeout{base: transport, timeout: timeout}, cred, endpoint),
			// Never follow a redirect: the 3xx comes back as an *APIError,
			// and the key and the customer's identifiers stay on our host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:         nil, // its logger prints URLs and errors unfiltered; we log ourselves
		RetryWaitMin:   s.retryWaitMin,
		RetryWaitMax:   s.retryWaitMax,
		RetryMax:       s.retryMax,
		CheckRetry:     c.checkRetry,
		Backoff:        backoff,
		ErrorHandler:   closeAndReturnError,
		RequestLogHook: c.beforeAttempt,
		PrepareRetry:   c.prepareRetry,
	}
	return c
}

// CloseIdleConnections closes the connections the client keeps open for
// reuse; it does not interrupt calls in flight, and the client stays
// usable. Call it when shutting down, or in tests that check for leaked
// goroutines. (Failed calls never do this: go-retryablehttp's habit of
// closing the pool on every give-up is blocked, so one failing call does
// not cost every other call its connection.)
func (c *Client) CloseIdleConnections() {
	if t, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// String describes the client without its API key.
func (c Client) String() string {
	return "blueshift.Client{baseURL: " + c.baseURL + ", key: [redacted]}"
}

// GoString describes the client without its API key, for %#v.
func (c Client) GoString() string { return c.String() }

// Format prints the same redacted description for every verb, so no
// formatting of a Client can reach its fields.
func (c Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// call is the state of one API call across its attempts. It travels in the
// request's context, because go-retryablehttp's hooks are shared by all
// calls and see only the request or its context.
type call struct {
	path     string
	secrets  [4]string // the customer's identifiers and the key's two forms: never in an error or log
	attempts int       // requests sent so far
	last     *APIError // the last non-2xx response, if any
	ended    time.Time // when the last attempt ended (only with a logger)
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	st, _ := ctx.Value(callKey{}).(*call)
	return st
}

// maxSuccessBody bounds what is read of a 2xx response.
const maxSuccessBody = 64 << 10

// post sends body as JSON to path with retries, and returns the outcome of
// the call: a Response for a 2xx, otherwise an error (an *APIError for a
// non-2xx answer).
func (c *Client) post(ctx context.Context, path string, body []byte, identifiers [2]string) (*Response, error) {
	if ctx == nil {
		return nil, errors.New("blueshift: nil context")
	}
	st := &call{path: path, secrets: [4]string{identifiers[0], identifiers[1], c.cred.secrets[0], c.cred.secrets[1]}}
	ctx = context.WithValue(ctx, callKey{}, st)

	// The body goes to go-retryablehttp as []byte: it is then rewound for
	// each retry without being copied.
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("blueshift: building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	if err := c.waitForRate(ctx); err != nil {
		return nil, c.callError(st, err)
	}
	resp, err := c.retry.Do(req)
	if err != nil {
		return nil, c.callError(st, err)
	}
	defer resp.Body.Close()
	if c.budget != nil {
		c.budget.refund()
	}
	out := &Response{StatusCode: resp.StatusCode, RequestID: requestID(resp), Attempts: st.attempts}
	if b, _ := readBounded(resp, maxSuccessBody); len(b) > 0 && b[0] == '{' {
		var ok struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(b, &ok) == nil {
			out.Status = sanitize(ok.Status, maxMessage)
		}
	}
	return out, nil
}

// callError turns what go-retryablehttp returned into the caller's error:
// the *APIError of the last response when the answer was final, otherwise
// the network or context error, joined with the last *APIError if a
// response had come back before it, so that errors.Is finds the context
// error and errors.As still finds the response.
func (c *Client) callError(st *call, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return &callError{path: st.path, attempts: st.attempts, err: err, last: st.last}
}

// callError is a failed call that ended without a final response.
type callError struct {
	path     string
	attempts int
	err      error
	last     *APIError
}

// Error names the call, the error, the attempts, and the last response.
func (e *callError) Error() string {
	msg := "blueshift: POST " + e.path + ": " + e.err.Error()
	switch {
	case e.attempts == 1:
		msg += " (1 attempt)"
	case e.attempts > 1:
		msg += " (" + strconv.Itoa(e.attempts) + " attempts)"
	}
	if e.last != nil {
		msg += "; last response: " + e.last.Error()
	}
	return msg
}

// Unwrap returns the network or context error and the last *APIError.
func (e *callError) Unwrap() []error {
	if e.last != nil {
		return []error{e.err, e.last}
	}
	return []error{e.err}
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
// more request go, or ctx ends.
func (c *Client) waitForRate(ctx context.Context) error {
	if c.limiter == nil {
		return nil
	}
	return c.limiter.Wait(ctx)
}

// prepareRetry runs before each retry: it waits for the rate limiter.
func (c *Client) prepareRetry(req *http.Request) error {
	return c.waitForRate(req.Context())
}

// beforeAttempt logs each retry, with the time waited since the previous
// attempt ended.
func (c *Client) beforeAttempt(_ retryablehttp.Logger, req *http.Request, retry int) {
	if c.logger == nil || retry == 0 {
		return
	}
	st := callFrom(req.Context())
	c.logger.LogAttrs(req.Context(), slog.LevelDebug, "blueshift: retrying",
		slog.String("method", req.Method), slog.String("path", st.path),
		slog.Int("attempt", st.attempts+1), slog.Duration("waited", time.Since(st.ended)))
}
