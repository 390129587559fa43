package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
)

// fakeLog sits in front of the fake server and tells what it saw: with
// --log one line per request (time, method, path, status, and which
// identifiers the body held, never their values), and a summary on exit.
// It keeps a 64-bit hash per distinct customer, not the customer.
type fakeLog struct {
	next    http.Handler
	w       io.Writer // nil: no line per request
	mu      sync.Mutex
	total   int
	answers map[string]int // "start-tracking 200" → requests
	seen    map[uint64]int // customer hash → requests
	okSeen  map[uint64]int // customer hash → requests answered 2xx
}

func newFakeLog(next http.Handler, w io.Writer) *fakeLog {
	return &fakeLog{next: next, w: w, answers: map[string]int{}, seen: map[uint64]int{}, okSeen: map[uint64]int{}}
}

// statusWriter notes the status of an answer; 0 for a dropped connection.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController hijack the connection (a drop).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (l *fakeLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, blueshifttest.MaxBodyBytes+1))
	if err == nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	sw := &statusWriter{ResponseWriter: w}
	l.next.ServeHTTP(sw, r)
	names, key := identifiersIn(body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	l.answers[fmt.Sprintf("%s %s", endpointName(r.URL.Path), statusText(sw.status))]++
	if len(names) > 0 {
		l.seen[key]++
		if sw.status/100 == 2 {
			l.okSeen[key]++
		}
	}
	if l.w != nil {
		ids := strings.Join(names, ",")
		if ids == "" {
			ids = "none"
		}
		fmt.Fprintf(l.w, "%s %s %s %s %s\n", time.Now().Format("15:04:05.000"), loggedMethod(r.Method), loggedPath(r.URL.Path), statusText(sw.status), ids)
	}
}

// loggedMethod is the method a log line shows: a standard one, or "OTHER".
func loggedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

func statusText(code int) string {
	if code == 0 {
		return "dropped"
	}
	return fmt.Sprint(code)
}

// endpointName names the fake's endpoints as the command does.
func endpointName(path string) string {
	switch path {
	case blueshifttest.StartTrackingPath:
		return "start-tracking"
	case blueshifttest.StopTrackingPath:
		return "stop-tracking"
	}
	return "other"
}

// identifiersIn returns the names of the identifiers a body holds, in
// Customer's order, and a hash of their values that identifies the
// customer. It reads the body as the fake does (encoding/json, which
// matches member names ignoring case, and identifiers trimmed as the
// client trims them, the email compared ignoring case), so that a line
// names what the fake accepted.
func identifiersIn(body []byte) ([]string, uint64) {
	var b struct {
		Email      string `json:"email"`
		CustomerID string `json:"customer_id"`
		Cookie     string `json:"cookie"`
		DeviceID   string `json:"device_id"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil, 0
	}
	c := blueshift.Customer{Email: strings.ToLower(b.Email), CustomerID: b.CustomerID, Cookie: b.Cookie, DeviceID: b.DeviceID}.Trimmed()
	var names []string
	h := fnv.New64a()
	for slot, v := range [input.NumSlots]string{c.Email, c.CustomerID, c.Cookie, c.DeviceID} {
		if v != "" {
			names = append(names, input.SlotNames[slot])
			fmt.Fprintf(h, "%s=%q;", input.SlotNames[slot], v)
		}
	}
	return names, h.Sum64()
}

// loggedPath is the path a log line shows: one of the fake's endpoints,
// or "other", since a path may hold anything, an email address even.
func loggedPath(path string) string {
	if endpointName(path) == "other" {
		return "other"
	}
	return path
}

// summary is the line printed on exit.
func (l *fakeLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.answers))
	for k := range l.answers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := []string{plural(l.total, "request", "requests")}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, l.answers[k]))
	}
	parts = append(parts, plural(len(l.seen), "distinct customer", "distinct customers"),
		fmt.Sprintf("%d sent more than once", moreThanOnce(l.seen)),
		fmt.Sprintf("%d answered ok more than once", moreThanOnce(l.okSeen)))
	return "fake-server summary: " + strings.Join(parts, "; ")
}

func moreThanOnce(m map[uint64]int) int {
	n := 0
	for _, c := range m {
		if c > 1 {
			n++
		}
	}
	return n
}
