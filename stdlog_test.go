package blueshift_test

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// syncBuffer is a strings.Builder safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unsolicitedServer answers one request on a connection, then writes
// extra bytes holding the customer's email on the now idle connection.
func unsolicitedServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}")
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(conn, "HTTP/1.1 500 ann@example.com\r\n\r\n")
		_, _ = io.Copy(io.Discard, conn) // until net/http closes the connection
	}()
	return "http://" + ln.Addr().String()
}

// TestNetHTTPMayWriteToTheStandardLogger pins what docs/security.md says:
// with no WithLogger the client itself writes nothing, but net/http writes
// to the process's standard logger (package log) when a server sends bytes
// on an idle keep-alive connection, quoting those bytes.
func TestNetHTTPMayWriteToTheStandardLogger(t *testing.T) {
	var logged syncBuffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(unsolicitedServer(t)))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), ann)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		return strings.Contains(logged.String(), "Unsolicited response received on idle HTTP channel")
	}, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, logged.String(), "ann@example.com", "net/http quotes the server's bytes")
	client.CloseIdleConnections()
}
