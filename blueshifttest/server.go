// Package blueshifttest is an in-process fake of Blueshift's
// customer-tracking API, for testing code that uses package blueshift
// without an account or a network.
//
// The fake checks Basic auth strictly, answers with Blueshift's own status
// codes and error bodies, remembers which customers are tracked, records
// every request, and can inject failures, delays and dropped connections:
//
//	srv := blueshifttest.NewServer()
//	defer srv.Close()
//	client, _ := blueshift.NewClient(srv.APIKey, blueshift.WithBaseURL(srv.URL))
//	srv.FailNext(2, http.StatusServiceUnavailable) // the client's retries absorb these
//	_, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
//	tracked := srv.IsTracked(blueshift.Customer{Email: "ann@example.com"}) // true
package blueshifttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
)

// DefaultAPIKey is the key a Server accepts unless WithAPIKey sets another.
const DefaultAPIKey = "test-api-key"

// MaxBodyBytes is the largest request body the fake accepts; a larger one
// gets 413 without being read.
const MaxBodyBytes = 1 << 20

// Paths the fake serves, as Blueshift does.
const (
	StartTrackingPath = "/api/v1/customers/unforget"
	StopTrackingPath  = "/api/v1/customers/forget"
)

// Request is one request as the fake received it.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte // at most MaxBodyBytes
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the API key the fake accepts (default DefaultAPIKey).
func WithAPIKey(key string) Option { return func(s *Server) { s.APIKey = key } }

// WithListener makes the fake serve on l instead of a new loopback port,
// for example to listen on a fixed address. The Server closes l.
func WithListener(l net.Listener) Option { return func(s *Server) { s.listener = l } }

// WithRecordLimit makes the fake keep at most n requests for Requests (the
// first n after a Reset); by default it keeps all. Long-running fakes, such
// as one serving a bulk run of a million customers, should set a limit.
func WithRecordLimit(n int) Option { return func(s *Server) { s.recordLimit = n } }

// Server is a running fake Blueshift. Its methods are safe for concurrent
// use, also while requests are being served.
type Server struct {
	// URL is the base URL of the fake, such as http://127.0.0.1:38291: pass
	// it to blueshift.WithBaseURL.
	URL string
	// APIKey is the key the fake accepts.
	APIKey string

	srv         *httptest.Server
	listener    net.Listener
	recordLimit int

	mu          sync.Mutex
	requests    []Request
	failNext    []int // statuses for the next requests, in order
	dropNext    int
	delay       time.Duration
	lateNext    int           // ApplyLate: how many of the next requests are applied late
	lateBy      time.Duration // ApplyLate: how late
	failRate    float64
	tracked     map[string]bool // "email:x" / "customer_id:y" / … → tracked (true) or forgotten (false)
	requestID   int
	inFlight    map[string]int // customer (all its identifiers) → calls being served now
	maxInFlight int
	limit       *rateBucket // WithRateLimit, SetRateLimit (ratelimit.go); nil: none
	rateLimited int         // 429s sent for limit
}

// NewServer starts a fake Blueshift on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{APIKey: DefaultAPIKey, recordLimit: -1, tracked: map[string]bool{}, inFlight: map[string]int{}}
	for _, opt := range opts {
		opt(s)
	}
	s.srv = httptest.NewUnstartedServer(s)
	if s.listener != nil {
		s.srv.Listener.Close()
		s.srv.Listener = s.listener
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close shuts the fake down, closing any connections still open.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Requests returns a copy of the requests received since the last Reset.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Reset forgets the recorded requests, the tracking state, and every
// injected failure, delay and drop.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.failNext, s.dropNext, s.delay, s.failRate = nil, nil, 0, 0, 0
	s.lateNext, s.lateBy = 0, 0
	s.tracked, s.maxInFlight = map[string]bool{}, 0
	s.rateLimited = 0
}

// FailNext makes the next n requests fail with status, with the body
// Blueshift documents for that status and an X-Request-Id header. Calls add
// up: FailNext(1, 429) then FailNext(1, 503) fails the next two requests
// with 429 and then 503.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, status)
	}
}

// FailRandomly makes each request fail, with probability fraction, with a
// 429 or a 503 (half each): a rehearsal of a bulk run against a struggling
// Blueshift. 0 turns it off.
func (s *Server) FailRandomly(fraction float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRate = fraction
}

// DropNext makes the fake close the connection of the next n requests
// without writing any response, as a crashed proxy would.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext += n
}

// SetDelay makes the fake wait d before answering each request (or until
// the client gives up), to test timeouts and latency. 0 turns it off.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// ApplyLate makes the fake hold each of the next n requests for d and then
// apply it, whether or not the client still waits for the answer, as a
// backend (or the load balancer before it) that has read a request may
// apply it after the client gave up. Unlike SetDelay, which gives up with
// the client and applies nothing, it shows what a client that stopped
// waiting cannot know: its request may still land, after newer ones.
// Calls add up; a late request ignores SetDelay, and Close waits for the
// requests it holds.
func (s *Server) ApplyLate(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lateNext += n
	s.lateBy = d
}

// MaxInFlightPerCustomer returns the largest number of calls for one
// customer (the same identifiers) that the fake was serving at the same
// time since it started or was last Reset: 1 means no customer ever had
// two calls in flight at once. Calls held by SetDelay or a failure count
// from the moment their body was read until they were answered.
func (s *Server) MaxInFlightPerCustomer() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// IsTracked reports whether Blueshift would now track the customer: each
// of its non-blank identifiers (email, ignoring case; customer_id; cookie;
// device_id) was last sent to start tracking, not to stop tracking. A
// customer the fake never saw is not tracked.
func (s *Server) IsTracked(c blueshift.Customer) bool {
	keys := identifierKeys(c)
	if len(keys) == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if !s.tracked[k] {
			return false
		}
	}
	return true
}

// identifierKeys names each non-blank identifier of c, trimmed as the
// client trims it.
func identifierKeys(c blueshift.Customer) []string {
	c = c.Trimmed()
	var keys []string
	if c.Email != "" {
		keys = append(keys, "email:"+strings.ToLower(c.Email))
	}
	for _, id := range [...]struct{ name, value string }{
		{"customer_id:", c.CustomerID}, {"cookie:", c.Cookie}, {"device_id:", c.DeviceID},
	} {
		if id.value != "" {
			keys = append(keys, id.name+id.value)
		}
	}
	return keys
}

// errorBodies are the bodies Blueshift documents for each status.
var errorBodies = map[int]string{
	http.StatusBadRequest:            `{"error":"bad_request"}`,
	http.StatusUnauthorized:          `{"message":"Not authorized"}`,
	http.StatusForbidden:             `{"message":"Permission denied"}`,
	http.StatusNotFound:              `{"status":"404","error":"Not Found"}`,
	http.StatusMethodNotAllowed:      `{"message":"Method not allowed"}`,
	http.StatusConflict:              `{"message":"Conflict with the current state of the customer"}`,
	http.StatusRequestEntityTooLarge: `{"message":"Payload too large"}`,
	http.StatusUnprocessableEntity:   `{"success":false,"error":"Validation failed"}`,
	http.StatusTooManyRequests:       `{"message":"Rate limit exceeded"}`,
	http.StatusInternalServerError:   `{"message":"Internal Server Error - Please contact support for more information."}`,
	http.StatusBadGateway:            `{"message":"Bad Gateway - Please retry the request."}`,
	http.StatusServiceUnavailable:    `{"message":"Service Unavailable - The service is temporarily unavailable. Try again later."}`,
	http.StatusGatewayTimeout:        `{"message":"Gateway Timeout - The server took too long to respond. Retry with exponential backoff."}`,
}

// fault is what the fake was told to do with the next request.
type fault struct {
	status int
	drop   bool
	delay  time.Duration
	late   time.Duration // ApplyLate: hold this long, then apply
}

// ServeHTTP answers one request as Blueshift would. Server implements
// http.Handler so that it can also be mounted in another server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, tooLarge := readBody(w, r)
	customer, parseErr := parseCustomer(body)
	keys := identifierKeys(customer)
	defer s.enter(keys)()
	f, requestID := s.record(r, body)
	w.Header().Set("X-Request-Id", requestID)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")

	if f.late > 0 {
		time.Sleep(f.late) // whether or not the client still waits
	} else if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	case f.status != 0:
		writeError(w, f.status)
		return
	}

	if r.URL.Path != StartTrackingPath && r.URL.Path != StopTrackingPath {
		writeError(w, http.StatusNotFound)
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != s.APIKey || pass != "" || s.APIKey == "" {
		writeError(w, http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	if tooLarge {
		writeError(w, http.StatusRequestEntityTooLarge)
		return
	}
	if parseErr != nil {
		writeError(w, http.StatusBadRequest)
		return
	}
	if len(keys) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"errors":{"email":["can't be blank"]}}`)
		return
	}
	s.mu.Lock()
	for _, k := range keys {
		s.tracked[k] = r.URL.Path == StartTrackingPath
	}
	s.mu.Unlock()
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

// record stores the request (within the record limit) and takes the next
// injected fault, under one lock so that concurrent requests each get
// exactly one.
func (s *Server) record(r *http.Request, body []byte) (fault, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requestID++
	if s.recordLimit < 0 || len(s.requests) < s.recordLimit {
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	}
	f := fault{delay: s.delay}
	switch {
	case s.lateNext > 0:
		s.lateNext--
		f.late = s.lateBy
	case len(s.failNext) > 0:
		f.status, s.failNext = s.failNext[0], s.failNext[1:]
	case s.dropNext > 0:
		s.dropNext--
		f.drop = true
	case s.failRate > 0 && rand.Float64() < s.failRate:
		f.status = http.StatusTooManyRequests
		if rand.IntN(2) == 0 {
			f.status = http.StatusServiceUnavailable
		}
	case s.rateLimitedNow(time.Now()):
		f.status = http.StatusTooManyRequests
	}
	return f, fmt.Sprintf("fake-%08d", s.requestID)
}

// readBody reads at most MaxBodyBytes of the request body, reporting
// whether it was larger; a body declared larger is not read at all.
func readBody(w http.ResponseWriter, r *http.Request) (body []byte, tooLarge bool) {
	if r.ContentLength > MaxBodyBytes {
		return nil, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return nil, true
	}
	return body, false
}

func writeError(w http.ResponseWriter, status int) {
	body, ok := errorBodies[status]
	if !ok {
		body = fmt.Sprintf(`{"message":%q}`, http.StatusText(status))
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// parseCustomer reads the identifiers of a request body.
func parseCustomer(body []byte) (blueshift.Customer, error) {
	var c struct {
		Email      *string `json:"email"`
		CustomerID *string `json:"customer_id"`
		Cookie     *string `json:"cookie"`
		DeviceID   *string `json:"device_id"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return blueshift.Customer{}, err
	}
	return blueshift.Customer{Email: deref(c.Email), CustomerID: deref(c.CustomerID), Cookie: deref(c.Cookie), DeviceID: deref(c.DeviceID)}, nil
}

// enter counts a call for the customer with these identifier keys as in
// flight, and returns the function that counts it out.
func (s *Server) enter(keys []string) func() {
	if len(keys) == 0 {
		return func() {}
	}
	customer := strings.Join(keys, "\x00")
	s.mu.Lock()
	s.inFlight[customer]++
	s.maxInFlight = max(s.maxInFlight, s.inFlight[customer])
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.inFlight[customer]--; s.inFlight[customer] == 0 {
			delete(s.inFlight, customer)
		}
		s.mu.Unlock()
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
