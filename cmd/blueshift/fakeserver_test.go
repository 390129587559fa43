package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFakeServerRateLimitFlag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		// 0.001/s: a burst of 1 and no token back during the test.
		done <- runFakeServer(ctx, []string{"--listen", "127.0.0.1:0", "--rate-limit", "0.001"}, outW, io.Discard)
		outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	require.NotEmpty(t, base, line)
	go func() { _, _ = io.Copy(io.Discard, out) }()

	var statuses []int
	for range 3 {
		req, err := http.NewRequest(http.MethodPost, base+"/api/v1/customers/unforget", strings.NewReader(`{"email":"a@example.com"}`))
		require.NoError(t, err)
		req.SetBasicAuth("test-api-key", "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			assert.Equal(t, `{"message":"Rate limit exceeded"}`, string(body))
		}
	}
	assert.Equal(t, []int{200, 429, 429}, statuses)
	http.DefaultClient.CloseIdleConnections()
	cancel()
	assert.Equal(t, exitOK, <-done)
}

func TestFakeServerRejectsABadRateLimit(t *testing.T) {
	for _, v := range []string{"-1", "NaN", "+Inf", "fast"} {
		var stderr strings.Builder
		code := runFakeServer(context.Background(), []string{"--listen", "127.0.0.1:0", "--rate-limit", v}, io.Discard, &stderr)
		assert.Equal(t, exitUsage, code, v)
		assert.Contains(t, stderr.String(), "rate-limit", v)
	}
}
