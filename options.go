package blueshift

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Option configures a Client: pass options made by the With… functions to
// NewClient or NewClientFromEnv. Its parameter is the package's internal
// settings; an Option cannot be written outside this package. Each option
// checks its input; NewClient returns the first error an option reports.
type Option func(*settings) error

// settings collects what the options chose, before NewClient builds the Client.
type settings struct {
	apiKey          *string // WithAPIKey, replacing NewClient's argument and BLUESHIFT_API_KEY
	region          Region
	baseURL         *url.URL
	endpointSet     bool // WithRegion or WithBaseURL was given
	httpClient      *http.Client
	retryMax        int
	retryWaitMin    time.Duration
	retryWaitMax    time.Duration
	timeout         time.Duration
	timeoutSet      bool
	logger          *slog.Logger
	userAgent       string
	limiter         *rate.Limiter
	adaptive        *adaptiveRate // WithAdaptiveRate
	retryBudget     int
	maxConnsPerHost int
	hooks           []Hooks // WithHooks (hooks.go)
}

// Defaults, documented on the options that change them.
const (
	defaultRetryMax     = 4
	defaultRetryWaitMin = 1 * time.Second
	defaultRetryWaitMax = 30 * time.Second
	defaultTimeout      = 30 * time.Second
	defaultRetryBudget  = 100
)

func defaultSettings() settings {
	return settings{
		region:       RegionUS,
		retryMax:     defaultRetryMax,
		retryWaitMin: defaultRetryWaitMin,
		retryWaitMax: defaultRetryWaitMax,
		timeout:      defaultTimeout,
		retryBudget:  defaultRetryBudget,
	}
}

// WithAPIKey makes the client use apiKey, replacing NewClient's argument
// and, for NewClientFromEnv, BLUESHIFT_API_KEY: for a key read from a file
// or a secret store. NewClient validates it like its argument.
func WithAPIKey(apiKey string) Option {
	return func(s *settings) error {
		s.apiKey = &apiKey
		return nil
	}
}

// WithRegion selects the Blueshift region whose host the client calls
// (default RegionUS). WithBaseURL, if also given, takes precedence.
func WithRegion(r Region) Option {
	return func(s *settings) error {
		if r.BaseURL() == "" {
			return unknownRegion(string(r))
		}
		s.region, s.endpointSet = r, true
		return nil
	}
}

// WithBaseURL sends requests to rawURL instead of the region's host, for
// example to a proxy or to the fake in package blueshifttest. It must be
// https, or http to a loopback host (127.0.0.0/8, ::1, localhost). It takes
// precedence over WithRegion. It refuses credentials, a query or a
// fragment (even an empty "?" or "#"), and keeps an escaped path exactly as
// given ("/a%2Fb" stays "/a%2Fb"), less any trailing slash.
func WithBaseURL(rawURL string) Option {
	return func(s *settings) error {
		u, err := parseBaseURL(rawURL)
		if err != nil {
			return err
		}
		s.baseURL, s.endpointSet = u, true
		return nil
	}
}

func parseBaseURL(rawURL string) (*url.URL, error) {
	rawURL = strings.TrimSpace(rawURL)
	if strings.ContainsAny(rawURL, "?#") { // url.Parse drops an empty query or fragment
		return nil, errors.New("blueshift: base URL must not have a query or fragment (no '?' or '#')")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("blueshift: base URL is not a valid URL")
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch {
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("blueshift: base URL needs a scheme and a host, like https://api.getblueshift.com")
	case u.User != nil:
		return nil, errors.New("blueshift: base URL must not carry credentials; pass the API key to NewClient")
	case !validPort(u.Port()):
		return nil, fmt.Errorf("blueshift: base URL port %q is not a number from 1 to 65535", u.Port())
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, errors.New("blueshift: base URL must use https (plain http is allowed only to a loopback host)")
	default:
		return nil, fmt.Errorf("blueshift: base URL scheme %q is not supported: use https", u.Scheme)
	}
	escaped := strings.TrimRight(u.EscapedPath(), "/")
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, errors.New("blueshift: base URL path is not validly escaped")
	}
	u.Path, u.RawPath = path, escaped // String() then keeps the escaping as given
	return u, nil
}

// validPort reports whether port is empty (the scheme's default) or a
// number from 1 to 65535.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithHTTPClient makes the client send requests through hc's Transport (nil
// means the package's pooled default) and use hc's Timeout as the
// per-attempt timeout unless WithTimeout is given. hc itself is never
// modified. Redirects are never followed whatever hc's CheckRedirect says.
// The attempt timeout and the call's context reach hc's Transport only
// through each request's context, so a RoundTripper that ignores its
// request's context keeps a call until it returns, past both, as it would
// keep a call of http.Client, whose Timeout has the same limit
// (TestRoundTripperThatIgnoresTheContext).
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("blueshift: WithHTTPClient needs a non-nil *http.Client")
		}
		s.httpClient = hc
		return nil
	}
}

// WithRetryMax sets how many times a call is retried after its first
// attempt (default 4, so at most 5 requests). 0 turns retries off.
func WithRetryMax(n int) Option {
	return func(s *settings) error {
		if n < 0 || n > 100 {
			return fmt.Errorf("blueshift: retry max %d out of range 0..100", n)
		}
		s.retryMax = n
		return nil
	}
}

// WithRetryWait sets the shortest and longest wait between attempts
// (default 1s and 30s). Waits grow exponentially from min, with jitter, and
// stay within [min, max], a Retry-After header included.
func WithRetryWait(min, max time.Duration) Option {
	return func(s *settings) error {
		if min <= 0 || max < min {
			return fmt.Errorf("blueshift: retry wait needs 0 < min <= max, got min %v, max %v", min, max)
		}
		s.retryWaitMin, s.retryWaitMax = min, max
		return nil
	}
}

// WithTimeout bounds each attempt: connecting, sending, reading the status
// line and headers, and reading the body (at most 64 KiB of it); default
// 30s. An attempt that runs out before the status and headers have arrived
// fails with ErrAttemptTimeout. One that runs out while the body is being
// read does not fail: the status decides, so a 2xx is a success (Blueshift
// applied the call; Response.Status is empty if the cut body held it) and
// any other status is an *APIError of that status holding the part of the
// body that arrived (TestAttemptTimeoutDuringTheBody). The context passed to
// a call bounds the call as a whole, retries and waits included.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("blueshift: timeout must be positive, got %v", d)
		}
		s.timeout, s.timeoutSet = d, true
		return nil
	}
}

// WithLogger makes the client log each attempt and retry at Debug level:
// method, path, status, attempt, wait and request id. It never logs the API
// key, the Authorization header, request bodies or customer identifiers.
// Without it the client logs nothing at all; net/http itself may still
// write to the standard logger (package log), for example when a server
// sends bytes on an idle connection: docs/security.md says how to silence
// it.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("blueshift: WithLogger needs a non-nil *slog.Logger (omit the option to log nothing)")
		}
		s.logger = l
		return nil
	}
}

// WithUserAgent appends ua (for example "billing-service/2.1") to the
// User-Agent header, after the default "blueshift-go/<Version>".
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		ua = strings.TrimSpace(ua)
		if ua == "" {
			return errors.New("blueshift: WithUserAgent needs a non-empty value")
		}
		for _, r := range ua {
			if r < 0x20 || r == 0x7f {
				return errors.New("blueshift: user agent must not contain control characters")
			}
		}
		s.userAgent = ua
		return nil
	}
}

// WithRateLimit makes the whole client, shared by any number of goroutines,
// send at most perSecond requests a second on average, with bursts of up to
// burst requests. Every attempt counts, retries included. Blueshift
// recommends about 50 a second for customer endpoints. By default there is
// no limit.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(s *settings) error {
		if !(perSecond > 0) || math.IsInf(perSecond, 0) || burst < 1 {
			return fmt.Errorf("blueshift: rate limit needs perSecond > 0 and burst >= 1, got %v and %d", perSecond, burst)
		}
		if s.adaptive != nil {
			return errRateAndAdaptive
		}
		s.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
		return nil
	}
}

// WithAdaptiveRate makes the whole client, shared by any number of
// goroutines, find Blueshift's rate limit by itself: it starts at initial
// requests a second, grows while no 429 comes back (doubling every second,
// up to max), and cuts the rate when one does, to just under the rate of
// calls that succeeded over the last second; then it grows by the same
// 0.25/s every second as any other client sharing the limit, and from 4 s
// after the cut probes upward faster. Every attempt waits for its turn,
// retries included, and the rate never falls below 1 request a second (or
// initial, if lower). docs/adaptive-rate.md gives the law and its
// measurements; the CLI's --rate auto is WithAdaptiveRate(10, 1000). It
// needs 0 < initial <= max, both finite, and cannot be combined with
// WithRateLimit. Client.Rate reports the rate it allows at any moment. By
// default there is no limit.
func WithAdaptiveRate(initial, max float64) Option {
	return func(s *settings) error {
		if !(initial > 0) || !(max >= initial) || math.IsInf(max, 0) {
			return fmt.Errorf("blueshift: adaptive rate needs 0 < initial <= max, both finite, got %v and %v", initial, max)
		}
		if s.limiter != nil {
			return errRateAndAdaptive
		}
		s.adaptive = newAdaptiveRate(initial, max)
		return nil
	}
}

var errRateAndAdaptive = errors.New("blueshift: WithRateLimit and WithAdaptiveRate cannot be combined: choose one")

// WithRetryBudget sets the client-wide retry budget, n retries (0 to
// 1,000,000; default 100). A retry spends one; a call that succeeds gives
// back what its retries spent (a call that succeeds at once earns a tenth),
// up to n. So a path where retries work never drains it, but when
// Blueshift fails for everyone, failing calls return their error at once
// once it is spent, instead of piling retries onto it. n = 0 turns the
// budget off, leaving only WithRetryMax.
func WithRetryBudget(n int) Option {
	return func(s *settings) error {
		if n < 0 || n > maxRetryBudget {
			return fmt.Errorf("blueshift: retry budget %d out of range 0..%d", n, maxRetryBudget)
		}
		s.retryBudget = n
		return nil
	}
}

// WithMaxConnsPerHost sizes the default transport's connection pool: at
// most n connections to Blueshift at once (0, the default, means no limit)
// with up to max(n, 128) kept idle for reuse. It has no effect with
// WithHTTPClient, whose transport is used as it is.
func WithMaxConnsPerHost(n int) Option {
	return func(s *settings) error {
		if n < 0 {
			return fmt.Errorf("blueshift: max connections per host must be >= 0, got %d", n)
		}
		s.maxConnsPerHost = n
		return nil
	}
}
