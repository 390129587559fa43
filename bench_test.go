package blueshift_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/blueshift-go/blueshift"
)

// The benchmarks compare the SDK with rawClient, the call a careful
// developer writes by hand with net/http, doing the same work: the same
// JSON body, the same Authorization header, the same keep-alive server,
// the same per-request timeout, a bounded read of the answer and a decode
// of its "status". Sub-benchmark names carry impl=raw or impl=sdk so that
// benchstat -col /impl puts them side by side (scripts/bench.sh).

var benchCustomer = blueshift.Customer{Email: "ann@example.com", CustomerID: "CUST-12345"}

const benchKey = "bench-key-0123456789"

// rawClient is the hand-written baseline.
type rawClient struct {
	http *http.Client
	url  string
	auth string
}

func newRawClient(baseURL string, rt http.RoundTripper) *rawClient {
	return &rawClient{
		http: &http.Client{Transport: rt},
		url:  baseURL + "/api/v1/customers/unforget",
		auth: "Basic " + b64(benchKey+":"),
	}
}

func (c *rawClient) StartTracking(ctx context.Context, customer blueshift.Customer) error {
	body, err := json.Marshal(customer)
	if err != nil {
		return err
	}
	// The per-request timeout, as a context: http.Client.Timeout would
	// cost a goroutine per request with any transport but *http.Transport.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("User-Agent", "blueshift-go/"+blueshift.Version)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("blueshift: %d: %s (request id %s)", resp.StatusCode, e.Message, resp.Header.Get("X-Request-Id"))
	}
	var ok struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(b, &ok)
	return nil
}

// tunedTransport is the keep-alive transport the baseline gets: pooled for
// 64 concurrent callers.
func tunedTransport() *http.Transport {
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
}

// benchServer answers like Blueshift: 200 {"status":"ok"} with a request id.
func benchServer(tb testing.TB, status int, body string) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "bench-request")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// memoryTransport answers every request itself, with no network: what is
// left to measure is the client layer alone.
type memoryTransport struct {
	status int
	body   string
}

func (m memoryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: m.status, Status: http.StatusText(m.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"bench-request"}},
		Body:    io.NopCloser(strings.NewReader(m.body)),
		Request: req, ContentLength: int64(len(m.body)),
	}, nil
}

// startTrackers returns the baseline and the SDK, wired to the same target.
func startTrackers(tb testing.TB, baseURL string, rt http.RoundTripper, opts ...blueshift.Option) (raw, sdk func(context.Context) error) {
	tb.Helper()
	base := []blueshift.Option{blueshift.WithBaseURL(baseURL)}
	if rt != nil {
		base = append(base, blueshift.WithHTTPClient(&http.Client{Transport: rt}))
	} else {
		rt = tunedTransport()
	}
	client, err := blueshift.NewClient(benchKey, append(base, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	rc := newRawClient(baseURL, rt)
	raw = func(ctx context.Context) error { return rc.StartTracking(ctx, benchCustomer) }
	sdk = func(ctx context.Context) error { _, err := client.StartTracking(ctx, benchCustomer); return err }
	return raw, sdk
}

// benchTarget is where a benchmark's requests go: a keep-alive loopback
// server, or a RoundTripper that answers in memory.
type benchTarget struct {
	name string
	url  string
	rt   http.RoundTripper // nil: the default transports
}

func benchTargets(tb testing.TB) []benchTarget {
	srv := benchServer(tb, 200, `{"status":"ok"}`)
	return []benchTarget{
		{"loopback", srv.URL, nil},
		{"memory", "https://api.getblueshift.com", memoryTransport{200, `{"status":"ok"}`}},
	}
}

func BenchmarkStartTracking(b *testing.B) {
	for _, target := range benchTargets(b) {
		raw, sdk := startTrackers(b, target.url, target.rt)
		for _, mode := range []string{"serial", "parallel64"} {
			// raw and sdk run back to back for each mode, so that they
			// meet the same machine state.
			for _, impl := range implOrder(raw, sdk) {
				b.Run("net="+target.name+"/mode="+mode+"/impl="+impl.name, func(b *testing.B) {
					ctx := context.Background()
					b.ReportAllocs()
					if mode == "serial" {
						for range b.N {
							if err := impl.call(ctx); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := impl.call(ctx); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		}
	}
}

type impl struct {
	name string
	call func(context.Context) error
}

// implOrder returns raw then sdk, or sdk then raw when BLUESHIFT_BENCH_ORDER
// is "sdk-first": scripts/bench.sh alternates the order between rounds, so
// that running second is no advantage to either.
func implOrder(raw, sdk func(context.Context) error) []impl {
	if os.Getenv("BLUESHIFT_BENCH_ORDER") == "sdk-first" {
		return []impl{{"sdk", sdk}, {"raw", raw}}
	}
	return []impl{{"raw", raw}, {"sdk", sdk}}
}

// BenchmarkErrorPath measures a 503 turned into an error (retries off):
// for the SDK, a full *APIError with message and request id.
func BenchmarkErrorPath(b *testing.B) {
	const body = `{"message": "Service Unavailable - The service is temporarily unavailable. Try again later."}`
	raw, sdk := startTrackers(b, "https://api.getblueshift.com", memoryTransport{503, body}, blueshift.WithRetryMax(0))
	for _, impl := range implOrder(raw, sdk) {
		b.Run("net=memory/mode=serial/impl="+impl.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for range b.N {
				if err := impl.call(ctx); err == nil {
					b.Fatal("want an error")
				}
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// BenchmarkHooks measures what WithHooks costs a call: hooks=none is the
// client as BenchmarkStartTracking runs it, hooks=empty has all four hooks
// set to functions that do nothing. Run side by side:
//
//	go test -run '^$' -bench BenchmarkHooks -benchmem .
func BenchmarkHooks(b *testing.B) {
	noop := blueshift.Hooks{
		CallStart:    func(ctx context.Context, _ blueshift.CallStartInfo) context.Context { return ctx },
		AttemptStart: func(context.Context, blueshift.AttemptStartInfo) {},
		AttemptDone:  func(context.Context, blueshift.AttemptDoneInfo) {},
		CallDone:     func(context.Context, blueshift.CallDoneInfo) {},
	}
	for _, tc := range []struct {
		name string
		opts []blueshift.Option
	}{{"none", nil}, {"empty", []blueshift.Option{blueshift.WithHooks(noop)}}} {
		_, sdk := startTrackers(b, "https://api.getblueshift.com", memoryTransport{200, `{"status":"ok"}`}, tc.opts...)
		b.Run("net=memory/mode=serial/hooks="+tc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for range b.N {
				if err := sdk(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
