package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// cli runs the command in-process against fake and returns its exit code,
// stdout and stderr. Retries wait milliseconds, not seconds.
func cli(t *testing.T, ctx context.Context, fake *blueshifttest.Server, stdin string, args ...string) (int, string, string) {
	t.Helper()
	if fake != nil {
		t.Setenv("BLUESHIFT_API_KEY", fake.APIKey)
		t.Setenv("BLUESHIFT_BASE_URL", fake.URL)
	}
	if len(args) > 0 && strings.HasSuffix(args[0], "-tracking") {
		// First, so that a test's own retry flags win.
		args = append([]string{args[0], "--retry-wait-min", "1ms", "--retry-wait-max", "5ms"}, args[1:]...)
	}
	var stdout, stderr strings.Builder
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// resultsOf returns the results file's record entries, and the last entry
// of each line, checking that the file starts with its header and that
// every other line is a record.
func resultsOf(t *testing.T, path string) ([]resultsfile.Result, map[int]resultsfile.Result) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var all []resultsfile.Result
	last := map[int]resultsfile.Result{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	require.True(t, sc.Scan(), "a header line")
	var header map[string]any
	require.NoError(t, json.Unmarshal(sc.Bytes(), &header), sc.Text())
	require.NotContains(t, header, "line")
	require.Contains(t, header, "command")
	require.Contains(t, header, "base_url")
	for sc.Scan() {
		var r resultsfile.Result
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		require.Positive(t, r.Line, sc.Text())
		all = append(all, r)
		last[r.Line] = r
	}
	require.NoError(t, sc.Err())
	return all, last
}

func email(i int) string { return fmt.Sprintf("user%d%cexample.com", i, 64) }

// customersCSV returns a CSV of n customers, with a header row.
func customersCSV(n int) string {
	var b strings.Builder
	b.WriteString("email,customer_id\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,C%d\n", email(i), i)
	}
	return b.String()
}

func TestOneCustomer(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	code, stdout, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--email", email(1))
	assert.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "ok: status 200, request id fake-00000001, 1 attempt(s)\n", stdout)
	assert.True(t, fake.IsTracked(blueshift.Customer{Email: email(1)}))

	code, stdout, _ = cli(t, context.Background(), fake, "", "stop-tracking", "--customer-id", "C9", "--yes")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "ok: status 200")
	assert.Equal(t, "/api/v1/customers/forget", fake.Requests()[1].Path)

	fake.FailNext(1, 401)
	code, stdout, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--customer-id", "C1")
	assert.Equal(t, exitUsage, code, "a bad key")
	assert.Empty(t, stdout)
	assert.Equal(t, "blueshift start-tracking: 401 Unauthorized: Not authorized (request id fake-00000003) (check the key in BLUESHIFT_API_KEY, and that the region or base URL matches its account)\n", stderr)

	fake.FailNext(1, 400)
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--customer-id", "C1")
	assert.Equal(t, exitFailures, code, "a refused call: %s", stderr)

	sent := len(fake.Requests())
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--email", "jos\xe9@example.com")
	assert.Equal(t, exitUsage, code, "an input error: %s", stderr)
	assert.Equal(t, "blueshift start-tracking: invalid identifier: email is not valid UTF-8\n", stderr)
	assert.Len(t, fake.Requests(), sent, "nothing was sent")
}

func TestUsageErrorsAreOneLineNamingTheFix(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	csvPath := writeFile(t, "c.csv", customersCSV(3))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"track"}, `unknown command "track"`},
		{"no customer", []string{"start-tracking"}, "give --email, --customer-id, --cookie and/or --device-id"},
		{"key as argument", []string{"start-tracking", "--email", email(1), "secret-key"}, "the API key is never a flag"},
		{"file and email", []string{"start-tracking", "--file", csvPath, "--email", email(1)}, "either --file or --email"},
		{"resume without results", []string{"start-tracking", "--file", csvPath, "--resume"}, "--resume needs --results"},
		{"bad concurrency", []string{"start-tracking", "--file", csvPath, "--concurrency", "0"}, "--concurrency"},
		{"bad rate", []string{"start-tracking", "--file", csvPath, "--rate", "0"}, "--rate"},
		{"bad region", []string{"start-tracking", "--email", email(1), "--region", "mars"}, `unknown region "mars"`},
		{"stop without yes", []string{"stop-tracking", "--file", csvPath}, "add --yes to confirm, or --dry-run"},
		{"missing file", []string{"start-tracking", "--file", "/nonexistent/c.csv"}, "cannot read --file"},
		{"directory", []string{"start-tracking", "--file", t.TempDir()}, "cannot read --file"},
		{"no id columns", []string{"start-tracking", "--file", writeFile(t, "x.csv", "name,phone\nAnn,1\n")}, `no email, customer_id, cookie or device_id column`},
		{"empty file", []string{"start-tracking", "--file", writeFile(t, "e.csv", "")}, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, context.Background(), fake, "", tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
			if !strings.Contains(stderr, "Usage:") {
				assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			}
		})
	}
	assert.Empty(t, fake.Requests(), "no usage error sent anything")
}

func TestAPIKeyComesFromEnvOrFile(t *testing.T) {
	fake := blueshifttest.NewServer(blueshifttest.WithAPIKey("file-key"))
	defer fake.Close()
	t.Setenv("BLUESHIFT_API_KEY", "")
	t.Setenv("BLUESHIFT_BASE_URL", fake.URL)
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"start-tracking", "--customer-id", "C1"}, nil, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "blueshift start-tracking: no API key: set BLUESHIFT_API_KEY or pass --api-key-file with your User API key\n", stderr.String())

	keyFile := writeFile(t, "key", "file-key\n")
	code = run(context.Background(), []string{"start-tracking", "--customer-id", "C1", "--api-key-file", keyFile}, nil, &stdout, &stderr)
	assert.Equal(t, exitOK, code, stderr.String())
	assert.Equal(t, "Basic ZmlsZS1rZXk6", fake.Requests()[0].Header.Get("Authorization"))
}

func TestBulkRunUnderInjectedFailures(t *testing.T) {
	const n = 10000
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.FailRandomly(0.10)
	input := writeFile(t, "customers.csv", customersCSV(n))
	results := filepath.Join(t.TempDir(), "results.ndjson")

	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results,
		"--concurrency", "32", "--rate", "100000", "--retry-max", "10", "--progress-every", "1h")
	assert.Equal(t, exitOK, code, stderr)

	all, last := resultsOf(t, results)
	assert.Len(t, all, n, "every record exactly once")
	assert.Len(t, last, n)
	retried := 0
	for i := range n {
		r, ok := last[i+2] // line 1 is the header
		require.True(t, ok, "line %d", i+2)
		assert.Equal(t, resultsfile.OutcomeOK, r.Outcome)
		assert.Equal(t, email(i), r.Email)
		assert.Equal(t, fmt.Sprintf("C%d", i), r.CustomerID)
		assert.Regexp(t, `^fake-\d{8}$`, r.RequestID)
		if r.Attempts > 1 {
			retried++
		}
		require.True(t, fake.IsTracked(blueshift.Customer{Email: r.Email, CustomerID: r.CustomerID}), "line %d", r.Line)
	}
	assert.Greater(t, retried, n/20, "about 10%% of records needed a retry")
	assert.Contains(t, stderr, fmt.Sprintf("start-tracking summary: %d ok, 0 failed, 0 invalid, 0 skipped", n))
}

func TestInterruptedRunResumesExactlyTheRest(t *testing.T) {
	const n = 3000
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "customers.csv", customersCSV(n))
	results := filepath.Join(t.TempDir(), "results.ndjson")
	args := []string{"start-tracking", "--file", input, "--results", results, "--concurrency", "8", "--rate", "3000", "--progress-every", "1h"}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { // interrupt midway, as Ctrl-C would
		for len(fake.Requests()) < n/3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	code, _, stderr := cli(t, ctx, fake, "", args...)
	require.Equal(t, exitInterrupted, code, stderr)
	assert.Contains(t, stderr, "run the same command with --resume")
	firstRun := len(fake.Requests())
	_, last := resultsOf(t, results)
	require.Len(t, last, firstRun, "every request sent was finished and recorded")
	require.Less(t, firstRun, n)

	code, _, stderr = cli(t, context.Background(), fake, "", append(args, "--resume")...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, fmt.Sprintf("resume: %d records already ok", firstRun))

	sent := map[string]int{}
	for _, r := range fake.Requests() {
		sent[string(r.Body)]++
	}
	assert.Len(t, sent, n, "every record was sent")
	for body, count := range sent {
		require.Equal(t, 1, count, "sent once, never twice: %s", body)
	}
	all, last := resultsOf(t, results)
	assert.Len(t, all, n)
	for _, r := range last {
		assert.Equal(t, resultsfile.OutcomeOK, r.Outcome)
	}
}

func TestResumeRetriesOnlyWhatFailed(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(10))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	fake.FailNext(3, 422) // not retried: 3 records fail
	code, _, _ := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--concurrency", "1", "--rate", "1000")
	assert.Equal(t, exitFailures, code)

	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results)
	assert.Equal(t, exitUsage, code, "an existing results file is never overwritten")
	assert.Contains(t, stderr, "pass --resume")

	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "1000")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "resume: 7 records already ok")
	assert.Len(t, fake.Requests(), 13)
	all, last := resultsOf(t, results)
	assert.Len(t, all, 13)
	assert.Len(t, last, 10)
	for _, r := range last {
		assert.Equal(t, resultsfile.OutcomeOK, r.Outcome)
	}
}

func TestBadKeyStopsEarly(t *testing.T) {
	fake := blueshifttest.NewServer(blueshifttest.WithAPIKey("right"))
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(5000))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	t.Setenv("BLUESHIFT_API_KEY", "wrong")
	t.Setenv("BLUESHIFT_BASE_URL", fake.URL)
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"start-tracking", "--file", input, "--results", results, "--concurrency", "4", "--rate", "1000"}, nil, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "stopped early, every other record would fail the same way")
	assert.Contains(t, stderr.String(), "check the key in BLUESHIFT_API_KEY")
	assert.LessOrEqual(t, len(fake.Requests()), 8, "a few in-flight calls, not 5000")
}

func TestInputFormats(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		want                map[int]resultsfile.Result // line → expected outcome and identifiers
	}{
		{"csv with BOM, quoted commas, extra and missing columns", "c.csv",
			"\ufeffname,Email ,customer_id\n\"Doe, Ann\",\"ann,x" + "\x40example.com\",C1\nBob,,C2\nShort\n\"multi\nline\",m" + "\x40example.com\n,,\n",
			map[int]resultsfile.Result{
				2: {Outcome: resultsfile.OutcomeOK, Email: "ann,x\x40example.com", CustomerID: "C1"},
				3: {Outcome: resultsfile.OutcomeOK, CustomerID: "C2"},
				4: {Outcome: resultsfile.OutcomeInvalid, Message: "customer needs an email, customer_id, cookie or device_id"},
				5: {Outcome: resultsfile.OutcomeOK, Email: "m\x40example.com"},
				7: {Outcome: resultsfile.OutcomeInvalid, Message: "customer needs an email, customer_id, cookie or device_id"},
			}},
		{"ndjson with blank lines and bad lines", "c.ndjson",
			"{\"email\":\"a\x40example.com\"}\n\n   \n{\"customer_id\":\"C2\",\"other\":1}\nnot json\n{\"email\":true}\n{}\n{\"email\":\"b\x40example.com\",\"customer_id\":\"C3\"}",
			map[int]resultsfile.Result{
				1: {Outcome: resultsfile.OutcomeOK, Email: "a\x40example.com"},
				4: {Outcome: resultsfile.OutcomeOK, CustomerID: "C2"},
				5: {Outcome: resultsfile.OutcomeInvalid, Message: "not a JSON object"},
				6: {Outcome: resultsfile.OutcomeInvalid, Message: "email is not a string or an integer"},
				7: {Outcome: resultsfile.OutcomeInvalid, Message: "customer needs an email, customer_id, cookie or device_id"},
				8: {Outcome: resultsfile.OutcomeOK, Email: "b\x40example.com", CustomerID: "C3"},
			}},
		{"ndjson detected by content", "customers.txt", "\n{\"customer_id\":\"C1\"}\n",
			map[int]resultsfile.Result{2: {Outcome: resultsfile.OutcomeOK, CustomerID: "C1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			results := filepath.Join(t.TempDir(), "r.ndjson")
			code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, tc.file, tc.content), "--results", results, "--rate", "1000")
			wantCode := exitOK
			for _, r := range tc.want {
				if r.Outcome != resultsfile.OutcomeOK {
					wantCode = exitFailures
				}
			}
			assert.Equal(t, wantCode, code, stderr)
			all, last := resultsOf(t, results)
			assert.Len(t, all, len(tc.want))
			for line, want := range tc.want {
				got, ok := last[line]
				require.True(t, ok, "line %d missing; got %+v", line, all)
				assert.Equal(t, want.Outcome, got.Outcome, "line %d", line)
				assert.Equal(t, want.Email, got.Email, "line %d", line)
				assert.Equal(t, want.CustomerID, got.CustomerID, "line %d", line)
				if want.Message != "" {
					assert.Equal(t, want.Message, got.Message, "line %d", line)
				}
			}
		})
	}
}

func TestStdinInput(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	code, _, stderr := cli(t, context.Background(), fake, "customer_id\nC1\nC2\n", "start-tracking", "--file", "-", "--rate", "1000")
	assert.Equal(t, exitOK, code, stderr)
	assert.Len(t, fake.Requests(), 2)
	assert.Contains(t, stderr, "2 ok, 0 failed")
}

func TestStopTrackingBulkNeedsConfirmation(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(5)+",\n")
	results := filepath.Join(t.TempDir(), "dry.ndjson")

	code, _, stderr := cli(t, context.Background(), fake, "", "stop-tracking", "--file", input, "--dry-run", "--results", results)
	assert.Equal(t, exitFailures, code, "one invalid record")
	assert.Empty(t, fake.Requests(), "a dry run sends nothing")
	assert.Contains(t, stderr, "0 ok, 0 failed, 1 invalid, 5 skipped")
	assert.Contains(t, stderr, "would send 5")
	all, _ := resultsOf(t, results)
	assert.Len(t, all, 6)

	for i := range 5 {
		_, err := blueshiftClient(t, fake).StartTracking(context.Background(), blueshift.Customer{Email: email(i), CustomerID: fmt.Sprintf("C%d", i)})
		require.NoError(t, err)
	}
	code, _, stderr = cli(t, context.Background(), fake, "", "stop-tracking", "--file", input, "--yes", "--rate", "1000")
	assert.Equal(t, exitFailures, code, stderr)
	for i := range 5 {
		assert.False(t, fake.IsTracked(blueshift.Customer{Email: email(i)}))
	}
	assert.Contains(t, stderr, "5 ok, 0 failed, 1 invalid")
}

func blueshiftClient(t *testing.T, fake *blueshifttest.Server) *blueshift.Client {
	c, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	require.NoError(t, err)
	return c
}

func TestRateLimitHoldsTheRunBack(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(60))
	start := time.Now()
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--rate", "100", "--concurrency", "16")
	elapsed := time.Since(start)
	assert.Equal(t, exitOK, code, stderr)
	// 60 requests at 100/s with a burst of 1 cannot take less than 0.59 s;
	// a slow machine only makes it longer, so this lower bound is not flaky.
	assert.GreaterOrEqual(t, elapsed, 590*time.Millisecond)
}

func TestPlainProgressLines(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(20 * time.Millisecond)
	input := writeFile(t, "c.csv", customersCSV(20))
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--rate", "1000", "--concurrency", "1", "--progress-every", "50ms")
	assert.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `progress: \d+/20 \(\d+%\), [\d.]+ records/s, ETA \d`, stderr)
	assert.Regexp(t, `start-tracking summary: 20 ok, 0 failed, 0 invalid, 0 skipped \(0 already ok from an earlier run\); sent 20 in [\d.]+m?s \([\d.]+ records/s\)`, stderr)
}

func TestFakeServerCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stdout, stderr strings.Builder
	go func() {
		done <- run(ctx, []string{"fake-server", "--listen", "127.0.0.1:0", "--api-key", "k"}, nil, &stdout, &stderr)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	assert.Equal(t, exitOK, <-done)
	assert.Regexp(t, `^fake Blueshift listening on http://127\.0\.0\.1:\d+ \(API key "k"\)`, stdout.String())

	code, _, stderr2 := cli(t, context.Background(), nil, "", "fake-server", "--listen", "0.0.0.0:8080")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr2, "loopback")
}

func TestVersionAndHelp(t *testing.T) {
	code, stdout, _ := cli(t, context.Background(), nil, "", "version")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "blueshift "+blueshift.Version+"\n", stdout)
	for _, cmd := range []string{"start-tracking", "stop-tracking", "fake-server"} {
		var out, errOut strings.Builder
		assert.Equal(t, exitOK, run(context.Background(), []string{cmd, "--help"}, nil, &out, &errOut))
		assert.Contains(t, out.String(), "Example")
		assert.Empty(t, errOut.String())
	}
}

func TestOutageStopsTheRunInsteadOfFailingEveryRecord(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.FailNext(100000, 503)
	input := writeFile(t, "c.csv", customersCSV(2000))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results,
		"--rate", "100000", "--concurrency", "4", "--retry-max", "1")
	assert.Equal(t, exitFailures, code)
	assert.Contains(t, stderr, "stopped early: the last 16 attempts, across all calls in flight, all failed (last: status 503)")
	assert.Contains(t, stderr, "Blueshift looks unreachable or overloaded; run the same command with --resume once it recovers")
	all, _ := resultsOf(t, results)
	// 16 failed attempts (503s: at least 16) stop it: at most 8 records
	// ended failed after their 2 attempts; the calls cut are left out.
	assert.LessOrEqual(t, len(all), 8)
	for _, r := range all {
		assert.Equal(t, resultsfile.OutcomeFailed, r.Outcome)
		assert.Equal(t, 2, r.Attempts)
	}
	assert.LessOrEqual(t, len(fake.Requests()), 16+4, "the 16 failed attempts, and at most one more per worker")

	// Once Blueshift is back, --resume finishes the job.
	fake.Reset()
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "100000", "--concurrency", "8")
	assert.Equal(t, exitOK, code, stderr)
	_, last := resultsOf(t, results)
	assert.Len(t, last, 2000)
}
