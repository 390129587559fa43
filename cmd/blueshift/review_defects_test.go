package main

// Each test here reproduces a defect a review of issue 10 found, through
// the command's behaviour only (exit code, output, what the fake received,
// the results file).

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// sparseResults writes a results file that starts with head and then holds
// zeros up to 64 GiB, without using the disk: a scan of it takes minutes.
func sparseResults(t *testing.T, head string) string {
	t.Helper()
	path := writeFile(t, "r.ndjson", head)
	require.NoError(t, os.Truncate(path, 64<<30))
	return path
}

// bytesRead returns how many bytes the process has read (Linux's
// /proc/PID/io rchar), 0 if unknown.
func bytesRead(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func TestFirstInterruptStopsTheResumeScan(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	results := sparseResults(t, `{"version":1,"command":"start-tracking","base_url":"`+fake.URL+`"}`+"\n")
	c := startChild(t, fake, nil, "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(1)), "--results", results, "--resume", "--progress-every", "1h")
	eventually(t, "the scan under way", func() bool { return bytesRead(c.cmd.Process.Pid) > 64<<20 })

	c.signal(t, syscall.SIGTERM)
	assert.Equal(t, exitInterrupted, c.wait(t, 5*time.Second), c.stderr.String())
	assert.Contains(t, c.stderr.String(), "interrupted while reading --results")
	assert.Contains(t, c.stderr.String(), "nothing was sent")
	assert.Empty(t, fake.Requests())
}

func TestResumeRefusesAResultsFileThatNeverEnds(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(1))
	for _, tc := range []struct{ name, results, want string }{
		{"a device that never ends", "/dev/zero", "is not a regular file"},
		{"no header line in the first bytes", sparseResults(t, ""), "does not start with a results header line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, fake, nil, "start-tracking", "--file", input, "--results", tc.results, "--resume")
			assert.Equal(t, exitUsage, c.wait(t, 5*time.Second), c.stderr.String())
			assert.Contains(t, c.stderr.String(), tc.want)
		})
	}
	assert.Empty(t, fake.Requests())
}
