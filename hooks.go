package blueshift

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Hooks are functions the client calls as each call and each of its
// attempts starts and ends: the seam for tracing and metrics (package
// otelblueshift builds OpenTelemetry spans and metrics on it). Set them
// with WithHooks. Every field is optional, so fields may be added later
// without breaking anyone, as with net/http/httptrace.ClientTrace.
//
// The functions run synchronously on the calling goroutine, so they must
// be quick and safe for concurrent use: a Client serves many goroutines.
// What they are given never holds the API key, a request body or a
// customer's identifiers; request ids are redacted like the client's
// errors. A call refused before anything is sent (an invalid customer)
// is not a call and reaches no hook.
type Hooks struct {
	// CallStart is called when a call starts, before it waits for the
	// rate limit. The context it returns, if not nil, replaces ctx for the
	// rest of the call and is the one the other hooks receive: a tracer
	// puts its span there.
	CallStart func(ctx context.Context, info CallStartInfo) context.Context
	// AttemptStart is called as each attempt (request) is about to be
	// sent, after any backoff and rate-limit wait.
	AttemptStart func(ctx context.Context, info AttemptStartInfo)
	// AttemptDone is called when each attempt's outcome is known.
	AttemptDone func(ctx context.Context, info AttemptDoneInfo)
	// CallDone is called when a call returns, with its outcome.
	CallDone func(ctx context.Context, info CallDoneInfo)
}

// Operation names the API operation a call makes.
type Operation string

// The operations of the client.
const (
	OperationStartTracking Operation = "StartTracking"
	OperationStopTracking  Operation = "StopTracking"
)

// Error classes: the ErrorClass of an outcome that had no HTTP answer.
// An outcome with a non-2xx answer has its status code in decimal ("429",
// "503") as ErrorClass instead, and a success has "". Each is a short,
// fixed string, fit for a metric attribute such as OpenTelemetry's
// error.type.
const (
	ErrorClassAttemptTimeout   = "attempt_timeout"   // an attempt ran out of WithTimeout
	ErrorClassCanceled         = "canceled"          // the caller's context was cancelled
	ErrorClassDeadlineExceeded = "deadline_exceeded" // the caller's deadline passed, or would before the next try
	ErrorClassTLS              = "tls"               // the server's certificate was refused
	ErrorClassDNS              = "dns"               // the host name does not resolve
	ErrorClassNetwork          = "network"           // any other failure to connect, send or receive
	// RetryReasonDeadConnection is the RetryReason of an attempt resent at
	// once because a reused keep-alive connection turned out to be closed.
	RetryReasonDeadConnection = "dead_connection"
)

// CallStartInfo describes a call that starts.
type CallStartInfo struct {
	Operation Operation
	// Method is the HTTP method, "POST".
	Method string
	// URLTemplate is the path the call posts to, such as
	// "/api/v1/customers/unforget" (after the base URL's own path, if any):
	// it holds no identifier.
	URLTemplate string
	// ServerAddress and ServerPort are the host and port of the base URL
	// (the port is the scheme's default when the URL names none).
	ServerAddress string
	ServerPort    int
}

// AttemptStartInfo describes an attempt about to be sent.
type AttemptStartInfo struct {
	Operation Operation
	// Attempt is the attempt's number, from 1.
	Attempt int
	// RetryReason is, for a retry, the ErrorClass of the attempt before it
	// (such as "503" or "network"), or RetryReasonDeadConnection; "" for
	// a call's first attempt.
	RetryReason string
	// RetryWait is, for a retry, the time waited between the end of the
	// attempt before it and the rate-limit wait (the backoff).
	RetryWait time.Duration
	// RateWait is the time this attempt waited for the client's rate
	// limit (WithRateLimit or WithAdaptiveRate); 0 without one.
	RateWait time.Duration
}

// AttemptDoneInfo describes the outcome of an attempt.
type AttemptDoneInfo struct {
	Operation Operation
	Attempt   int
	// StatusCode is the HTTP status of the answer, 0 when none came.
	StatusCode int
	// ErrorClass is "" for a 2xx, the status code in decimal for another
	// answer, otherwise one of the ErrorClass… constants.
	ErrorClass string
	// RequestID is the answer's X-Request-Id, if any.
	RequestID string
	// Duration runs from sending the request to its outcome: the headers
	// of a 2xx, the whole (bounded) body of another answer.
	Duration time.Duration
	// Retry reports whether the call will retry after this attempt.
	Retry bool
	// Rate is, with WithAdaptiveRate, the rate in requests a second the
	// client allows once it has learnt from this attempt; 0 otherwise.
	Rate float64
}

// CallDoneInfo describes the outcome of a call.
type CallDoneInfo struct {
	Operation Operation
	// Attempts is how many requests the call sent (0 if it ended while
	// waiting for the rate limit).
	Attempts int
	// StatusCode is the status of the last answer, 0 when none came.
	StatusCode int
	// ErrorClass is "" for a success; otherwise the status code in
	// decimal if the call ended on a non-2xx answer, or one of the
	// ErrorClass… constants for what else ended it.
	ErrorClass string
	// RequestID is the last answer's X-Request-Id, if any.
	RequestID string
	// Duration is the whole call's, retries and waits included.
	Duration time.Duration
}

// WithHooks makes the client call h's functions as calls and attempts start
// and end. Given more than once, every set of hooks is called, in the
// order given (so telemetry and a hand-written hook can be combined). h
// needs at least one function. Without it the client calls nothing, at
// no cost.
func WithHooks(h Hooks) Option {
	return func(s *settings) error {
		if h.CallStart == nil && h.AttemptStart == nil && h.AttemptDone == nil && h.CallDone == nil {
			return errors.New("blueshift: WithHooks needs at least one function")
		}
		s.hooks = append(s.hooks, h)
		return nil
	}
}

// hookSet is a client's hooks and the endpoint facts they are told.
type hookSet struct {
	list    []Hooks
	address string
	port    int
	prefix  string // the base URL's path
}

// newHookSet returns nil when there are no hooks, so that a client
// without hooks tests one pointer per event.
func newHookSet(list []Hooks, endpoint *url.URL) *hookSet {
	if len(list) == 0 {
		return nil
	}
	port, _ := strconv.Atoi(endpoint.Port())
	if port == 0 {
		port = 443
		if endpoint.Scheme == "http" {
			port = 80
		}
	}
	return &hookSet{list: list, address: endpoint.Hostname(), port: port, prefix: endpoint.Path}
}

// hookState is what a call with hooks keeps for them.
type hookState struct {
	op           Operation
	start        time.Time // of the call
	attemptStart time.Time
	rateWait     time.Duration // of the coming attempt
	retryWait    time.Duration // of the coming attempt
	retryReason  string        // of the coming attempt
}

func operationOf(path string) Operation {
	if path == stopTrackingPath {
		return OperationStopTracking
	}
	return OperationStartTracking
}

// callStart tells the hooks that a call starts, and returns the context
// the call goes on with.
func (h *hookSet) callStart(ctx context.Context, st *call) context.Context {
	st.hook = &hookState{op: operationOf(st.path), start: time.Now()}
	info := CallStartInfo{Operation: st.hook.op, Method: http.MethodPost, URLTemplate: h.prefix + st.path, ServerAddress: h.address, ServerPort: h.port}
	for _, hk := range h.list {
		if hk.CallStart != nil {
			if derived := hk.CallStart(ctx, info); derived != nil {
				ctx = derived
			}
		}
	}
	return ctx
}

// callDone tells the hooks how a call ended.
func (h *hookSet) callDone(ctx context.Context, st *call, resp *Response, err error) {
	info := CallDoneInfo{Operation: st.hook.op, Attempts: st.attempts, Duration: time.Since(st.hook.start)}
	switch {
	case err == nil:
		info.StatusCode, info.RequestID = resp.StatusCode, resp.RequestID
	case st.last != nil:
		info.StatusCode, info.RequestID = st.last.StatusCode, st.last.RequestID
	}
	if err != nil {
		info.ErrorClass = errorClass(err)
	}
	for _, hk := range h.list {
		if hk.CallDone != nil {
			hk.CallDone(ctx, info)
		}
	}
}

// attemptStart tells the hooks that an attempt is about to be sent.
func (h *hookSet) attemptStart(ctx context.Context, st *call) {
	hs := st.hook
	info := AttemptStartInfo{Operation: hs.op, Attempt: st.attempts + 1, RetryReason: hs.retryReason, RetryWait: hs.retryWait, RateWait: hs.rateWait}
	hs.rateWait, hs.retryWait, hs.retryReason = 0, 0, ""
	hs.attemptStart = time.Now()
	for _, hk := range h.list {
		if hk.AttemptStart != nil {
			hk.AttemptStart(ctx, info)
		}
	}
}

// attemptDone tells the hooks an attempt's outcome (an answer, or the
// error that came instead), and notes why a retry, if any, is coming.
func (c *Client) attemptDone(ctx context.Context, st *call, resp *http.Response, err error, retry *bool) {
	hs := st.hook
	info := AttemptDoneInfo{Operation: hs.op, Attempt: st.attempts, Duration: time.Since(hs.attemptStart), Retry: *retry}
	if resp != nil {
		info.StatusCode = resp.StatusCode
		info.RequestID = requestID(resp, st.secrets[:])
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			info.ErrorClass = strconv.Itoa(resp.StatusCode)
		}
	} else if err != nil {
		info.ErrorClass = errorClass(err)
	}
	if c.adaptive != nil {
		info.Rate = c.Rate()
	}
	if info.Retry {
		hs.retryReason = info.ErrorClass
	}
	for _, hk := range c.hooks.list {
		if hk.AttemptDone != nil {
			hk.AttemptDone(ctx, info)
		}
	}
}

// waitForRateTimed waits for the rate limit like waitForRate and, with
// hooks, notes how long the coming attempt waited: exactly 0 when the
// client has no rate limit, not the cost of finding that out.
func (c *Client) waitForRateTimed(ctx context.Context, st *call) error {
	if st == nil || st.hook == nil || (c.limiter == nil && c.adaptive == nil) {
		return c.waitForRate(ctx)
	}
	start := time.Now()
	err := c.waitForRate(ctx)
	st.hook.rateWait = time.Since(start)
	return err
}

// errorClass returns the ErrorClass of what ended a call or an attempt.
func errorClass(err error) string {
	var (
		apiErr *APIError
		dnsErr *net.DNSError
		reqErr *RequestError
	)
	if errors.As(err, &reqErr) && reqErr.Err != nil {
		err = reqErr.Err // not its Last answer: what ended the call
	}
	switch {
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case errors.Is(err, ErrAttemptTimeout):
		return ErrorClassAttemptTimeout
	case errors.Is(err, context.Canceled):
		return ErrorClassCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorClassDeadlineExceeded
	case certificateError(err):
		return ErrorClassTLS
	case errors.As(err, &dnsErr):
		return ErrorClassDNS
	}
	return ErrorClassNetwork
}

// resendingAtOnce tells the hooks that the attempt that just failed on a
// dead keep-alive connection is resent at once, and that the resend starts.
func (c *Client) resendingAtOnce(ctx context.Context, st *call, err error) {
	retry := true
	c.attemptDone(ctx, st, nil, err, &retry)
	st.hook.retryReason = RetryReasonDeadConnection
	c.hooks.attemptStart(ctx, st)
}
