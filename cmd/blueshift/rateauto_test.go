package main

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// TestRateAutoFindsTheLimit runs --rate auto against a fake that throttles
// at 200/s: every record ends ok, few requests are refused, and the summary
// reports the achieved and final rates.
func TestRateAutoFindsTheLimit(t *testing.T) {
	fake := blueshifttest.NewServer(blueshifttest.WithRateLimit(200, 0))
	defer fake.Close()
	const records = 600
	results := writeFile(t, "r.ndjson", "")
	require.NoError(t, os.Remove(results))
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(records)),
		"--results", results, "--rate", "auto", "--concurrency", "16")
	require.Equal(t, exitOK, code, stderr)

	_, byLine := resultsOf(t, results)
	assert.Len(t, byLine, records)
	m := regexp.MustCompile(`--rate auto: achieved ([0-9.]+)/s, final rate ([0-9.]+)/s`).FindStringSubmatch(stderr)
	require.NotNil(t, m, stderr)
	final, _ := strconv.ParseFloat(m[2], 64)
	assert.Greater(t, final, 0.0)
	assert.LessOrEqual(t, final, 1000.0, "--rate-max defaults to 1000")
	sent := len(fake.Requests())
	t.Logf("%d requests for %d records, %d answered 429; %s", sent, records, fake.RateLimited(), m[0])
	assert.Equal(t, records, sent-fake.RateLimited(), "each record succeeded once")
	assert.Less(t, fake.RateLimited(), records/4, "the rate backs off instead of hammering the limit")
}

func TestRateAutoNeverThrottledReachesItsMax(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(100)),
		"--rate", "auto", "--rate-max", "40", "--concurrency", "8")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "final rate 40.0/s")
	assert.Zero(t, fake.RateLimited())
}
