package main

// Each test here reproduces a defect a review of issue 10 found, through
// the command's behaviour only (exit code, output, what the fake received,
// the results file).

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

func TestOneCustomerBadKeyExitsTwoLikeBulk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		hint   string
	}{
		{"401", 401, "check the key in BLUESHIFT_API_KEY"},
		{"403", 403, "the key in BLUESHIFT_API_KEY lacks permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			fake.FailNext(1, tc.status)
			code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--email", "a@example.com")
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tc.hint)

			fake.FailNext(1, tc.status)
			results := filepath.Join(t.TempDir(), "r.ndjson")
			code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(1)), "--results", results)
			assert.Equal(t, exitUsage, code, "bulk: %s", stderr)
		})
	}
}

func TestRateTooLowToProgressIsRefused(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(1))
	for _, rate := range []string{"1e-300", "0.001", "0.0099"} {
		t.Run(rate, func(t *testing.T) {
			results := filepath.Join(t.TempDir(), "r.ndjson")
			code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", rate)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, "--rate must be at least 0.01")
			assert.NoFileExists(t, results)
		})
	}
	assert.Empty(t, fake.Requests())
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--email", "a@example.com", "--rate", "0.01")
	require.Equal(t, exitOK, code, stderr)
}
