package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// deadURL returns a loopback URL where nothing listens.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	return url
}

// A run that ends early advises --resume only when --results records it:
// without --results, following the advice would only be refused with
// "--resume needs --results".
func TestEarlyEndAdvisesResumeOnlyWithResults(t *testing.T) {
	const badInput = "Email\na@example.com\n\"b@example.com\n"
	for _, tc := range []struct {
		name, stdin string
		outage      bool
		results     bool
		code        int
		want        string
	}{
		{"input error, no results", badInput, false, false, exitUsage,
			"every record before it was sent; without --results nothing records what was sent\n"},
		{"input error, results", badInput, false, true, exitUsage,
			"every record before it was sent and recorded: fix the input and run the same command with --resume\n"},
		{"outage, no results", customersCSV(20), true, false, exitFailures,
			"; without --results nothing records what was sent\n"},
		{"outage, results", customersCSV(20), true, true, exitFailures,
			"; run the same command with --resume once it recovers\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			t.Setenv("BLUESHIFT_API_KEY", fake.APIKey)
			base := fake.URL
			if tc.outage {
				base = deadURL(t)
			}
			args := []string{"start-tracking", "--file", "-", "--base-url", base, "--rate", "1000",
				"--retry-max", "1", "--stop-after-failures", "2", "--retry-wait-min", "1ms", "--retry-wait-max", "5ms"}
			if tc.results {
				args = append(args, "--results", filepath.Join(t.TempDir(), "r.ndjson"))
			}
			var stdout, stderr strings.Builder
			code := run(context.Background(), args, strings.NewReader(tc.stdin), &stdout, &stderr)
			assert.Equal(t, tc.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.want)
			if !tc.results {
				assert.NotContains(t, stderr.String(), "--resume")
			}
		})
	}
}
