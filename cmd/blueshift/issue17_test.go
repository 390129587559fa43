package main

// Tests of the defects of issue 17, each reproduced before its fix.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// runChild runs the command in another process to its end, with extra
// environment, and returns its exit code and stderr.
func runChild(t *testing.T, fake *blueshifttest.Server, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	encoded, err := json.Marshal(args)
	require.NoError(t, err)
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_ARGS="+string(encoded),
		"BLUESHIFT_API_KEY="+fake.APIKey, "BLUESHIFT_BASE_URL="+fake.URL, "BLUESHIFT_REGION=")
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), stderr.String()
	}
	require.NoError(t, err)
	return 0, stderr.String()
}

// Defect 1: two runs on one results file.
func TestSecondRunOnTheSameResultsFileIsRefused(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(100 * time.Millisecond)
	input := writeFile(t, "c.csv", customersCSV(6))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	args := []string{"start-tracking", "--file", input, "--results", results, "--rate", "1000", "--concurrency", "1"}
	first := make(chan int, 1)
	go func() {
		code, _, _ := cli(t, context.Background(), fake, "", args...)
		first <- code
	}()
	eventually(t, "the first run's first result", func() bool { return lineCount(results) >= 2 })
	for _, extra := range [][]string{nil, {"--resume"}} {
		before := len(fake.Requests())
		code, _, stderr := cli(t, context.Background(), fake, "", append(args, extra...)...)
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, "another run holds "+results, extra)
		assert.LessOrEqual(t, len(fake.Requests()), before+1, "the second run sent nothing (the first may send one meanwhile)")
	}
	require.Equal(t, exitOK, <-first)
	all, last := resultsOf(t, results)
	assert.Len(t, all, 6)
	assert.Len(t, last, 6)
	assert.Len(t, fake.Requests(), 6)
}

// Defect 2: a JSON array is one array, not lines of NDJSON.
func TestJSONArrayIsReadAsOneArray(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	array := "[\n  {\"email\": \"" + email(1) + "\"},\n  {\"email\": \"" + email(2) + "\", \"tags\": [1, {\"a\": null}]},\n  {\"customer_id\": 7}\n]\n"
	for _, name := range []string{"export.json", "export.txt"} {
		fake.Reset()
		results := filepath.Join(t.TempDir(), "r.ndjson")
		code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, name, array), "--results", results, "--rate", "1000")
		require.Equal(t, exitOK, code, stderr)
		_, last := resultsOf(t, results)
		assert.Equal(t, []int{2, 3, 4}, sortedLines(last), name)
		assert.Equal(t, []string{`{"customer_id":"7"}`, `{"email":"` + email(1) + `"}`, `{"email":"` + email(2) + `"}`}, sortedBodies(fake), name)
	}
	for _, bad := range []string{"[\n{\"email\": \"a@b.c\"},\n{\"email\": \"d@e.f\"}\n", "[{\"email\": \"a@b.c\"}] x", "[{\"email\": \"a@b.c\"} {\"email\": \"d@e.f\"}]"} {
		fake.Reset()
		code, _, stderr := cli(t, context.Background(), fake, "", "stop-tracking", "--yes", "--file", writeFile(t, "bad.json", bad), "--rate", "1000")
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, "not a valid JSON array")
		assert.Empty(t, fake.Requests(), "nothing sent from %q", bad)
	}
}

// Defect 3: CR-only line ends, and a file that yields no records.
func TestCROnlyLineEndsAreRead(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "mac.csv", "Email,Name\r"+email(1)+",Ann\r"+email(2)+",\"Bob\rBobson\"\r")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--rate", "1000")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, []string{`{"email":"` + email(1) + `"}`, `{"email":"` + email(2) + `"}`}, sortedBodies(fake))

	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "empty.csv", "email\n"), "--rate", "1000")
	assert.Equal(t, exitFailures, code, stderr)
	assert.Contains(t, stderr, "no records")
}

// Defect 4 and 8: one rule for names, and an ambiguous flag refused.
func TestColumnFlagsMatchCSVAndNDJSONByOneRule(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	for _, in := range []struct{ name, content string }{
		{"a.csv", "Work Email,email\n" + email(1) + "," + email(9) + "\n"},
		{"a.ndjson", `{"Work Email":"` + email(1) + `","email":"` + email(9) + `"}` + "\n"},
		{"b.ndjson", `{"work-email":"` + email(1) + `"}` + "\n"},
	} {
		fake.Reset()
		code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, in.name, in.content), "--email-column", "work_email", "--rate", "1000")
		require.Equal(t, exitOK, code, in.name+": "+stderr)
		assert.Equal(t, []string{`{"email":"` + email(1) + `"}`}, bodies(fake), in.name)
	}
	for _, header := range []string{"email,email", "Work Email,work_email"} {
		fake.Reset()
		code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "d.csv", header+"\na@b.c,d@e.f\n"), "--email-column", "work_email", "--rate", "1000")
		if header == "email,email" {
			code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "d.csv", header+"\na@b.c,d@e.f\n"), "--email-column", "email", "--rate", "1000")
		}
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, "ambiguous", header)
		assert.Empty(t, fake.Requests())
	}
}

// Defect 9: the identifier columns are printed, and none turns one off.
func TestIdentifierColumnsArePrintedAndNoneTurnsOneOff(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "shopify.csv", "Customer ID,First Name,Email\n12,Ann,"+email(1)+"\n")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--dry-run")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, `identifiers: email from column "Email", customer_id from column "Customer ID", cookie none, device_id none`)
	assert.Empty(t, fake.Requests())

	code, _, stderr = cli(t, context.Background(), fake, "", "stop-tracking", "--yes", "--file", input, "--customer-id-column", "none", "--rate", "1000")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, `identifiers: email from column "Email", customer_id none, cookie none, device_id none`)
	assert.Contains(t, stderr, "stop-tracking: Blueshift at "+strings.TrimPrefix(fake.URL, "http://")+" will delete the personal data of the customer of 1 record")
	assert.Equal(t, []string{`{"email":"` + email(1) + `"}`}, bodies(fake))

	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "n.ndjson", `{"email":"a@b.c"}`+"\n"), "--dry-run", "--cookie-column", "visitor")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, `identifiers: email from members named like "email" or "email address", customer_id from members named like "customer_id", cookie from members named like "visitor", device_id from members named like "device_id"`)
}

// Defect 5 and 6: a results file that cannot be written.
func TestResultsWriteFailureIsReportedHonestly(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(40))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	args := []string{"start-tracking", "--file", input, "--results", results, "--rate", "1000", "--progress-every", "1h"}
	code, stderr := runChild(t, fake, []string{childEnv + "_FSIZE=2000"}, args...)
	assert.Equal(t, exitResults, code, stderr)
	assert.Contains(t, stderr, "writing results to "+results)
	assert.Contains(t, stderr, "run the same command with --resume")
	all, _ := resultsOf(t, results)
	m := regexp.MustCompile(`summary: (\d+) ok`).FindStringSubmatch(stderr)
	require.NotNil(t, m, stderr)
	assert.Equal(t, fmt.Sprint(len(all)), m[1], "the summary counts what the file holds")

	code, _, stderr = cli(t, context.Background(), fake, "", append(args, "--resume")...)
	require.Equal(t, exitOK, code, stderr)
	_, last := resultsOf(t, results)
	assert.Len(t, last, 40)

	// A header that cannot be written leaves nothing that blocks a rerun.
	results2 := filepath.Join(t.TempDir(), "r2.ndjson")
	args2 := []string{"start-tracking", "--file", input, "--results", results2, "--rate", "1000"}
	code, stderr = runChild(t, fake, []string{childEnv + "_FSIZE=10"}, args2...)
	assert.Equal(t, exitResults, code, stderr)
	code, _, stderr = cli(t, context.Background(), fake, "", args2...)
	require.Equal(t, exitOK, code, stderr)
	require.NoError(t, os.WriteFile(results2, nil, 0o600)) // an empty file, as a crash before the header leaves
	code, _, stderr = cli(t, context.Background(), fake, "", append(args2, "--resume")...)
	require.Equal(t, exitOK, code, stderr)
	_, last = resultsOf(t, results2)
	assert.Len(t, last, 40)
}

// Defect 7: calls cut by a second interrupt are named in the summary.
func TestCutCallsAreCountedAndNamed(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	c := startChild(t, fake, nil, "stop-tracking", "--yes", "--file", writeFile(t, "c.csv", customersCSV(10)), "--results", results,
		"--rate", "1000", "--concurrency", "3", "--drain-timeout", "1m", "--progress-every", "1h")
	eventually(t, "three calls in flight", func() bool { return len(fake.Requests()) == 3 })
	c.signal(t, os.Interrupt)
	time.Sleep(100 * time.Millisecond)
	c.signal(t, os.Interrupt)
	assert.Equal(t, exitInterrupted, c.wait(t, 10*time.Second))
	assert.Contains(t, c.stderr.String(), "3 calls were cut; Blueshift may have applied them; --resume sends them again")
}

// Defect 10: a run without --results, and the small messages.
func TestRunWithoutResultsSaysItCannotBeResumed(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		eventually(t, "a call in flight", func() bool { return len(fake.Requests()) >= 1 })
		cancel()
	}()
	code, _, stderr := cli(t, ctx, fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(3)), "--rate", "1000", "--drain-timeout", "10ms")
	assert.Equal(t, exitInterrupted, code, stderr)
	assert.Contains(t, stderr, "without --results this run cannot be resumed")
	assert.NotContains(t, stderr, "--resume to finish")
}

func TestSmallMessages(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	_, help, _ := cli(t, context.Background(), nil, "", "help", "start-tracking")
	assert.NotContains(t, help, "(default 20) (default 20)")
	assert.Contains(t, help, "(default 20)")

	results := filepath.Join(t.TempDir(), "r.ndjson")
	one := []string{"start-tracking", "--file", writeFile(t, "one.csv", customersCSV(1)), "--results", results, "--rate", "1000"}
	code, _, stderr := cli(t, context.Background(), fake, "", one...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "1 ok")
	code, _, stderr = cli(t, context.Background(), fake, "", append(one, "--resume")...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "resume: 1 record already ok")
	assert.NotRegexp(t, `(^|[^.\d])1 records`, stderr) // "(1302.1 records/s)" is a rate

	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "w.csv", "email\nren\xe9e@example.com\n"), "--rate", "1000")
	assert.Equal(t, exitFailures, code, stderr)
	assert.Contains(t, stderr, "save it as UTF-8")

	fake.Reset()
	utf16 := "e\x00m\x00a\x00i\x00l\x00\n\x00a\x00@\x00b\x00.\x00c\x00\n\x00"
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "u.csv", utf16), "--rate", "1000")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "UTF-16 without a byte order mark")
	assert.Empty(t, fake.Requests())
}

// Defect 10: a closed stderr pipe does not end the run.
func TestClosedStderrPipeDoesNotEndTheRun(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(20 * time.Millisecond)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	args, err := json.Marshal([]string{"start-tracking", "--file", writeFile(t, "c.csv", customersCSV(30)), "--results", results, "--rate", "1000", "--progress-every", "10ms"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_ARGS="+string(args), "BLUESHIFT_API_KEY="+fake.APIKey, "BLUESHIFT_BASE_URL="+fake.URL, "BLUESHIFT_REGION=")
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stderr = pw
	require.NoError(t, cmd.Start())
	pw.Close()
	_, _ = bufio.NewReader(pr).ReadString('\n') // "… | head -1"
	pr.Close()
	_ = cmd.Wait()
	assert.Equal(t, exitOK, cmd.ProcessState.ExitCode(), "%v", cmd.ProcessState)
	_, last := resultsOf(t, results)
	assert.Len(t, last, 30)
}

// Defect 11: the fake server tells what it saw.
func TestFakeServerLogsAndSummarises(t *testing.T) {
	var requests []fakeRequest
	for _, body := range []string{`{"email":"ann@example.com"}`, `{"email":"ann@example.com"}`, `{"email":"bob@example.com","customer_id":"7"}`} {
		requests = append(requests, fakeRequest{blueshifttest.StartTrackingPath, body})
	}
	code, log := fakeServerLog(t, requests)
	assert.Equal(t, exitOK, code)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} POST /api/v1/customers/unforget 200 email$`, log)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} POST /api/v1/customers/unforget 200 email,customer_id$`, log)
	assert.NotContains(t, log, "ann@example.com", "never an identifier's value")
	assert.Contains(t, log, "fake-server summary: 3 requests; start-tracking 200: 3; 2 distinct customers; 1 sent more than once")
}

// fakeRequest is a request fakeServerLog posts: a path and a JSON body.
type fakeRequest struct{ path, body string }

// fakeServerLog runs `blueshift fake-server --log` on a loopback port,
// posts each request to it with its key, stops it, and returns its exit
// code and all it printed after its first line (the address).
func fakeServerLog(t *testing.T, requests []fakeRequest) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runFakeServer(ctx, []string{"--listen", "127.0.0.1:0", "--log"}, outW, io.Discard)
		outW.Close()
	}()
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	logged := make(chan string, 1)
	go func() { b, _ := io.ReadAll(br); logged <- string(b) }()
	for _, req := range requests {
		r, err := http.NewRequest(http.MethodPost, base+req.path, strings.NewReader(req.body))
		require.NoError(t, err)
		r.SetBasicAuth(blueshifttest.DefaultAPIKey, "")
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	return <-done, <-logged
}

func sortedLines(last map[int]resultsfile.Result) []int {
	var lines []int
	for l := range last {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return lines
}

func sortedBodies(fake *blueshifttest.Server) []string {
	b := bodies(fake)
	slices.Sort(b)
	return b
}

// Two flags naming one column are refused before anything happens.
func TestTwoColumnFlagsNamingOneColumnAreRefused(t *testing.T) {
	code, _, stderr := cli(t, context.Background(), nil, "", "start-tracking", "--file", writeFile(t, "c.csv", "email\na@b.c\n"), "--email-column", "E mail", "--cookie-column", "e-mail")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "--email-column and --cookie-column name the same column")
}

// Defect 2, the other half: a .json file that is neither NDJSON nor an
// array (here "jq ." output: pretty-printed objects) is refused before
// anything is sent, from a file or a pipe.
func TestPrettyPrintedObjectsAreRefusedBeforeSending(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	pretty := "{\n  \"email\": \"" + email(1) + "\"\n}\n{\n  \"email\": \"" + email(2) + "\"\n}\n"
	for _, file := range []string{writeFile(t, "jq.json", pretty), "-"} {
		fake.Reset()
		code, _, stderr := cli(t, context.Background(), fake, pretty, "stop-tracking", "--yes", "--file", file, "--rate", "1000")
		assert.Equal(t, exitUsage, code, stderr)
		assert.Contains(t, stderr, "its first line is not one JSON object", file)
		assert.Empty(t, fake.Requests(), file)
	}
}
