package blueshift_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// staleKeepAliveServer answers the first request on each connection with a
// keep-alive 200, then reads the next request on that connection and closes
// it without answering: the client's reused connection turns out dead only
// after the request was written, as when a server or proxy times out idle
// connections. closeAfter, if set, instead closes each connection that long
// after its first answer (a server that drops idle connections quickly).
type staleKeepAliveServer struct {
	URL        string
	requests   atomic.Int64
	closeAfter time.Duration
	l          net.Listener
	wg         sync.WaitGroup
}

func newStaleKeepAliveServer(t testing.TB, closeAfter time.Duration) *staleKeepAliveServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &staleKeepAliveServer{URL: "http://" + l.Addr().String(), closeAfter: closeAfter, l: l}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { l.Close(); s.wg.Wait() })
	return s
}

func (s *staleKeepAliveServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.l.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serve(conn)
	}
}

func (s *staleKeepAliveServer) serve(conn net.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	br := bufio.NewReader(conn)
	if !s.readRequest(br) {
		return
	}
	_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}")
	if s.closeAfter > 0 {
		time.Sleep(s.closeAfter)
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	s.readRequest(br) // then close without an answer
}

func (s *staleKeepAliveServer) readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, req.Body)
	s.requests.Add(1)
	return true
}

func TestDeadKeepAliveConnectionIsResentAtOnce(t *testing.T) {
	srv := newStaleKeepAliveServer(t, 0)
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL), blueshift.WithRetryWait(10*time.Second, 30*time.Second))
	require.NoError(t, err)
	defer client.CloseIdleConnections()

	resp, err := client.StartTracking(context.Background(), ann)
	require.NoError(t, err)
	assert.Equal(t, 1, resp.Attempts, "a fresh connection")
	for i := range 5 {
		start := time.Now()
		resp, err := client.StartTracking(context.Background(), ann)
		require.NoError(t, err)
		assert.Less(t, time.Since(start), 5*time.Second, "call %d waited out a backoff", i)
		assert.Equal(t, 2, resp.Attempts, "the request lost on the dead connection counts")
	}
	assert.Equal(t, int64(1+5*2), srv.requests.Load())
}

func TestOnlyTheFirstDeadConnectionSkipsTheBackoff(t *testing.T) {
	// The second call's first attempt dies on the reused connection and is
	// resent at once; the resend dies too, on a fresh connection, and that
	// failure backs off as usual before the third attempt succeeds.
	client, rec := setup(t, sequence(okHandler, dropConnection, dropConnection, okHandler),
		blueshift.WithRetryWait(200*time.Millisecond, 200*time.Millisecond), blueshift.WithRetryMax(3))
	_, err := client.StartTracking(context.Background(), ann)
	require.NoError(t, err)

	start := time.Now()
	resp, err := client.StartTracking(context.Background(), ann)
	require.NoError(t, err)
	elapsed := time.Since(start)
	assert.Equal(t, 3, resp.Attempts)
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond, "the second failure backed off")
	assert.Equal(t, 4, rec.Count())
}

// BenchmarkDeadKeepAliveLatency reports the p50 and p99 latency of serial
// calls to a server that closes each connection right after answering (or
// a little later), with the default 1 s minimum backoff: without the
// immediate resend, every call that picks a connection the server has
// just closed waits at least 1 s.
func BenchmarkDeadKeepAliveLatency(b *testing.B) {
	for _, closeAfter := range []time.Duration{time.Nanosecond, 50 * time.Microsecond, 200 * time.Microsecond} {
		b.Run("close after "+closeAfter.String(), func(b *testing.B) {
			srv := newStaleKeepAliveServer(b, closeAfter)
			client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL))
			require.NoError(b, err)
			defer client.CloseIdleConnections()
			lat := make([]time.Duration, 0, b.N)
			attempts := 0
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := client.StartTracking(context.Background(), ann)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				attempts += resp.Attempts
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(attempts)/float64(b.N), "attempts/call")
		})
	}
}

func TestEveryIdleConnectionDeadAtOnce(t *testing.T) {
	// A proxy's idle timeout kills every pooled connection at the same
	// time: the resend must go on a new connection, not on the next dead
	// one in the pool.
	srv := newStaleKeepAliveServer(t, 0)
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL), blueshift.WithRetryWait(10*time.Second, 30*time.Second))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 8 { // fill the pool with 8 connections that will each die on their next request
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = client.StartTracking(context.Background(), ann)
		}()
	}
	wg.Wait()
	for i := range 3 {
		start := time.Now()
		resp, err := client.StartTracking(context.Background(), ann)
		require.NoError(t, err, "call %d", i)
		assert.Less(t, time.Since(start), 5*time.Second, "call %d waited out a backoff", i)
		assert.LessOrEqual(t, resp.Attempts, 2, "call %d", i)
		t.Logf("call %d: %d attempts in %v, server saw %d", i, resp.Attempts, time.Since(start), srv.requests.Load())
	}
}
