package blueshift

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
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

// attemptTimeout bounds each attempt (connecting, sending, and reading the
// whole response) by timeout. The call's own context still bounds the call
// as a whole.
type attemptTimeout struct {
	base    http.RoundTripper
	timeout time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t *attemptTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if ctx.Err() != nil && req.Context().Err() == nil {
			return nil, fmt.Errorf("attempt timed out after %v: %w", t.timeout, err)
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

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
