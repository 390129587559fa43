package blueshift

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"

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
	// hooks are WithHooks' functions; nil without any (hooks.go).
	hooks *hookSet
	retry *retryablehttp.Client
	// transport is the pool under the auth and timeout layers, sealed: its
	// buffers hold the last requests, Authorization header included.
	transport sealed[http.RoundTripper]
	logger    *slog.Logger  // nil: log nothing
	limiter   *rate.Limiter // nil: no rate limit
	adaptive  *adaptiveRate // nil: no adaptive rate (ratecontrol.go)
	budget    *retryBudget  // nil: no retry budget
}

// NewClient returns a client that authenticates with apiKey, a Blueshift
// User API key. Surrounding white space is trimmed from the key (keys read
// from files end in a newline). NewClient does not touch the network or the
// environment; it returns ErrMissingAPIKey for a blank key, ErrInvalidAPIKey
// for a malformed one, or the first error an option reports.
func NewClient(apiKey string, opts ...Option) (*Client, error) {
	s := defaultSettings()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if s.apiKey != nil {
		apiKey = *s.apiKey
	}
	cred, err := newCredential(apiKey)
	if err != nil {
		return nil, err
	}
	return newClient(cred, &s), nil
}

// NewClientFromEnv returns a client configured from the environment:
// BLUESHIFT_API_KEY (required unless WithAPIKey is given), BLUESHIFT_REGION
// ("us" or "eu") and BLUESHIFT_BASE_URL. Options given here win over the
// environment: WithAPIKey replaces BLUESHIFT_API_KEY, and WithRegion or
// WithBaseURL replaces both endpoint variables. This is the one precedence
// of the package and of the blueshift command: options (flags), then the
// environment, then the defaults.
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
		transport: seal(transport),
		userAgent: "blueshift-go/" + Version,
		logger:    s.logger,
		limiter:   s.limiter,
		adaptive:  s.adaptive,
		hooks:     newHookSet(s.hooks, endpoint),
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
			Transport: newAuthTransport(&attemptTransport{base: transport, timeout: timeout, client: c}, cred, endpoint),
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

// BaseURL returns the base URL the client sends to, such as
// "https://api.getblueshift.com": the region's, or WithBaseURL's with its
// scheme and host in lower case and no trailing slash.
func (c *Client) BaseURL() string { return c.baseURL }

// CloseIdleConnections closes the connections the client keeps open for
// reuse; it does not interrupt calls in flight, and the client stays
// usable. Call it when shutting down, or in tests that check for leaked
// goroutines. (Failed calls never do this: go-retryablehttp's habit of
// closing the pool on every give-up is blocked, so one failing call does
// not cost every other call its connection.)
func (c *Client) CloseIdleConnections() {
	if t, ok := c.transport.open().(interface{ CloseIdleConnections() }); ok {
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
