package blueshift

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// newTransport returns the default transport: pooled for real concurrency
// (go-retryablehttp's default keeps only GOMAXPROCS+1 idle connections,
// which makes concurrent callers open a new TCP+TLS connection for most
// requests), HTTP/2 when the server offers it, and bounded dial, TLS and
// idle timeouts.
func newTransport(maxConnsPerHost int) *http.Transport {
	idleConnsPerHost := max(maxConnsPerHost, minIdleConnsPerHost)
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idleConnsPerHost,
		MaxIdleConnsPerHost:   idleConnsPerHost,
		MaxConnsPerHost:       maxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// minIdleConnsPerHost is how many idle connections the default transport
// keeps at least: enough for 64 concurrent callers and their bursts.
const minIdleConnsPerHost = 128

// attemptTransport sends one attempt of a call. It bounds the attempt
// (connecting, sending, reading the response; see WithTimeout for a body it
// cuts off) by timeout, while
// the call's own context still bounds the call as a whole; it counts the
// requests net/http sends (net/http itself resends when a dead keep-alive
// connection took nothing), and when an attempt fails because a reused
// keep-alive connection turned out to be closed, it resends once at once
// on a new connection instead of leaving the retry to wait out a backoff.
type attemptTransport struct {
	base    http.RoundTripper
	timeout time.Duration
	client  *Client // for the rate limit, retry budget and retry max of a resend
}

// errAttemptTimedOut is the cause of an attempt's context when its own
// timeout (not the caller's deadline) ended it.
var errAttemptTimedOut = errors.New("attempt timed out")

// RoundTrip implements http.RoundTripper.
func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := callFrom(req.Context())
	resp, err := t.send(req, st)
	if err == nil || st == nil || !t.mayResendAtOnce(req, st, err) {
		return resp, err
	}
	body, bodyErr := req.GetBody()
	if bodyErr != nil {
		return nil, err
	}
	st.attempts++ // the attempt the dead connection swallowed
	st.countUncertain(nil, err)
	st.resent = true
	t.client.logAttempt(req.Context(), st, nil, err)
	if st.hook != nil { // hooks.go
		t.client.resendingAtOnce(req.Context(), st, err)
	}
	// The pool hands out its most recently used connection first, so the
	// idle ones are older than the one that just turned out dead, and
	// probably dead too (a proxy's idle timeout kills them all): close
	// them, so that the resend goes on a new connection.
	t.client.CloseIdleConnections()
	again := *req
	again.Body = body
	return t.send(&again, st)
}

// send makes one attempt within the attempt timeout.
func (t *attemptTransport) send(req *http.Request, st *call) (*http.Response, error) {
	ctx, cancel := context.WithTimeoutCause(req.Context(), t.timeout, errAttemptTimedOut)
	if st != nil {
		st.conns.Store(0)
		st.reused.Store(false)
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if st != nil {
		if n := int(st.conns.Load()); n > 1 {
			st.attempts += n - 1 // net/http resent on another connection
		}
	}
	if err != nil {
		timedOut := context.Cause(ctx) == errAttemptTimedOut // read before cancel sets it
		cancel()
		if timedOut {
			return nil, &attemptTimeoutError{timeout: t.timeout}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// mayResendAtOnce reports whether a failed attempt died on a reused
// keep-alive connection that the server had closed (EOF or reset before
// any response), this call has not resent at once before, a retry is left,
// and the retry budget and rate limit allow one now.
func (t *attemptTransport) mayResendAtOnce(req *http.Request, st *call, err error) bool {
	if st.resent || !st.reused.Load() || req.GetBody == nil || req.Context().Err() != nil {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		return false
	}
	c := t.client
	if st.attempts+1 > c.retry.RetryMax {
		return false
	}
	if c.budget != nil && !c.budget.spend() {
		return false
	}
	return c.waitForRateTimed(req.Context(), st) == nil
}

// attemptTimeoutError is the cause of a call whose attempt ran out of its
// WithTimeout. It matches ErrAttemptTimeout and is a net.Error timeout, but
// deliberately does not match context.DeadlineExceeded: the caller's own
// deadline has not passed.
type attemptTimeoutError struct{ timeout time.Duration }

// Error says how long the attempt was allowed.
func (e *attemptTimeoutError) Error() string {
	return "attempt timed out after " + e.timeout.String()
}

// Is matches ErrAttemptTimeout.
func (e *attemptTimeoutError) Is(target error) bool { return target == ErrAttemptTimeout }

// Timeout and Temporary make it a net.Error timeout, as net/http's own are.
func (e *attemptTimeoutError) Timeout() bool   { return true }
func (e *attemptTimeoutError) Temporary() bool { return true }

// cancelOnClose releases an attempt's timer when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body and releases the attempt's timer.
func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
