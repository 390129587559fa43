package main

// Each test here reproduces a defect of issue 10 through the command's
// behaviour only (exit code, output, what the fake received, the results
// file), so that it also runs against the code before the fix.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// resultLines returns every line of a results file as a JSON object.
func resultLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "%.200s", sc.Text())
		lines = append(lines, m)
	}
	require.NoError(t, sc.Err())
	return lines
}

// bodies returns the request bodies the fake received.
func bodies(fake *blueshifttest.Server) []string {
	var out []string
	for _, r := range fake.Requests() {
		out = append(out, string(r.Body))
	}
	return out
}

func TestResultsFileStartsWithAHeaderBindingItToItsRun(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(3)), "--results", results, "--rate", "1000")
	require.Equal(t, exitOK, code, stderr)
	lines := resultLines(t, results)
	require.Len(t, lines, 4)
	assert.Equal(t, "start-tracking", lines[0]["command"])
	assert.Equal(t, fake.URL, lines[0]["base_url"])
	assert.NotContains(t, lines[0], "line")
	for _, l := range lines[1:] {
		for _, member := range []string{"line", "email", "customer_id", "cookie", "device_id", "outcome", "status", "message", "request_id", "attempts"} {
			assert.Contains(t, l, member)
		}
	}
}

func TestResumeRefusesTheResultsOfAnotherCommand(t *testing.T) {
	for _, tc := range []struct{ first, second []string }{
		{[]string{"stop-tracking", "--yes"}, []string{"start-tracking"}},
		{[]string{"start-tracking"}, []string{"stop-tracking", "--yes"}},
	} {
		t.Run(tc.first[0]+" then "+tc.second[0], func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			input := writeFile(t, "c.csv", customersCSV(2))
			results := filepath.Join(t.TempDir(), "r.ndjson")
			code, _, stderr := cli(t, context.Background(), fake, "", append(tc.first, "--file", input, "--results", results, "--rate", "1000")...)
			require.Equal(t, exitOK, code, stderr)
			fake.Reset()

			code, _, stderr = cli(t, context.Background(), fake, "", append(tc.second, "--file", input, "--results", results, "--resume", "--rate", "1000")...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Empty(t, fake.Requests(), "nothing sent")
			assert.Contains(t, stderr, tc.first[0])
			assert.Contains(t, stderr, tc.second[0])
			assert.Len(t, resultLines(t, results), 3, "nothing appended")
		})
	}
}

func TestResumeRefusesAnotherEndpoint(t *testing.T) {
	rehearsal, production := blueshifttest.NewServer(), blueshifttest.NewServer()
	defer rehearsal.Close()
	defer production.Close()
	input := writeFile(t, "c.csv", customersCSV(2))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), rehearsal, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	require.Equal(t, exitOK, code, stderr)

	code, _, stderr = cli(t, context.Background(), production, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "1000")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Empty(t, production.Requests())
	assert.Contains(t, stderr, rehearsal.URL)
	assert.Contains(t, stderr, production.URL)
}

func TestResumeComparesNormalisedBaseURLs(t *testing.T) {
	t.Setenv("BLUESHIFT_API_KEY", "k")
	t.Setenv("BLUESHIFT_BASE_URL", "")
	t.Setenv("BLUESHIFT_REGION", "")
	input := writeFile(t, "c.csv", customersCSV(2))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"start-tracking", "--file", input, "--results", results, "--dry-run", "--base-url", "HTTPS://API.getblueshift.com/"}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Equal(t, "https://api.getblueshift.com", resultLines(t, results)[0]["base_url"])

	code = run(context.Background(), []string{"start-tracking", "--file", input, "--results", results, "--dry-run", "--resume", "--region", "us"}, nil, &stdout, &stderr)
	assert.Equal(t, exitOK, code, "--region us is https://api.getblueshift.com: %s", stderr.String())
	code = run(context.Background(), []string{"start-tracking", "--file", input, "--results", results, "--dry-run", "--resume", "--region", "eu"}, nil, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
}

func TestResumeRefusesAResultsFileWithoutHeader(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(2))
	old := writeFile(t, "r.ndjson", `{"line":2,"email":"user0@example.com","customer_id":"C0","outcome":"ok"}`+"\n")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", old, "--resume")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "header")
	assert.Empty(t, fake.Requests())

	future := writeFile(t, "r2.ndjson", `{"version":2,"command":"start-tracking","base_url":"`+fake.URL+`"}`+"\n")
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", future, "--resume")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "version 2")
	assert.Empty(t, fake.Requests())
}

func TestFlagsWinOverTheEnvironment(t *testing.T) {
	fromEnv, fromFlag := blueshifttest.NewServer(), blueshifttest.NewServer()
	defer fromEnv.Close()
	defer fromFlag.Close()
	// --region eu with BLUESHIFT_BASE_URL set: the run is bound to the EU host.
	t.Setenv("BLUESHIFT_API_KEY", fromEnv.APIKey)
	t.Setenv("BLUESHIFT_BASE_URL", fromEnv.URL)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"start-tracking", "--file", writeFile(t, "c.csv", customersCSV(1)), "--results", results, "--dry-run", "--region", "eu"}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Equal(t, blueshift.RegionEU.BaseURL(), resultLines(t, results)[0]["base_url"])

	// One customer with --region eu: nothing goes to BLUESHIFT_BASE_URL
	// (the EU host is out of reach from the test machine).
	stderr.Reset()
	code = run(context.Background(), []string{"start-tracking", "--customer-id", "C1", "--region", "eu", "--timeout", "200ms", "--retry-max", "0"}, nil, &stdout, &stderr)
	assert.Equal(t, exitFailures, code, stderr.String())
	assert.Empty(t, fromEnv.Requests())

	// --base-url and --api-key-file replace BLUESHIFT_BASE_URL and BLUESHIFT_API_KEY.
	t.Setenv("BLUESHIFT_API_KEY", "wrong-key")
	code = run(context.Background(), []string{"start-tracking", "--customer-id", "C1", "--base-url", fromFlag.URL, "--api-key-file", writeFile(t, "key", fromFlag.APIKey+"\n")}, nil, &stdout, &stderr)
	assert.Equal(t, exitOK, code, stderr.String())
	assert.Len(t, fromFlag.Requests(), 1)
	assert.Empty(t, fromEnv.Requests())
}

// brokenCSV returns 100 rows whose row on line 53 opens a quote it never
// closes.
func brokenCSV() string {
	var b strings.Builder
	b.WriteString("email,customer_id\n")
	for i := range 100 {
		if i == 51 {
			fmt.Fprintf(&b, "\"%s,C%d\n", email(i), i)
			continue
		}
		fmt.Fprintf(&b, "%s,C%d\n", email(i), i)
	}
	return b.String()
}

func TestUnterminatedQuoteIsRefusedBeforeAnythingIsSent(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", brokenCSV()), "--results", results, "--rate", "100000")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Empty(t, fake.Requests(), "0 requests")
	assert.Contains(t, stderr, "starts on line 53")
	assert.Contains(t, stderr, "found on line 101")
	assert.NoFileExists(t, results)
}

func TestUnterminatedQuoteOnStdinStopsThere(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, brokenCSV(), "start-tracking", "--file", "-", "--results", results, "--rate", "100000")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "starts on line 53")
	assert.Len(t, fake.Requests(), 51, "every record before it was sent")
	lines := resultLines(t, results)
	assert.Len(t, lines, 1+51, "and recorded")
	for _, l := range lines[1:] {
		assert.Equal(t, "ok", l["outcome"])
		assert.Less(t, l["line"], float64(53))
	}
}

func TestResultsThatIsTheInputIsRefused(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	dir := t.TempDir()
	input := filepath.Join(dir, "c.ndjson")
	require.NoError(t, os.WriteFile(input, []byte(`{"customer_id":"C1"}`+"\n"), 0o600))
	hard, sym := filepath.Join(dir, "hard.ndjson"), filepath.Join(dir, "sym.ndjson")
	require.NoError(t, os.Link(input, hard))
	require.NoError(t, os.Symlink(input, sym))
	for _, results := range []string{input, hard, sym} {
		for _, resume := range []bool{false, true} {
			args := []string{"stop-tracking", "--yes", "--file", input, "--results", results}
			if resume {
				args = append(args, "--resume")
			}
			code, _, stderr := cli(t, context.Background(), fake, "", args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, "is the input file itself")
		}
	}
	assert.Empty(t, fake.Requests())
}

func TestBadFlagValuesAreRefusedBeforeAnySideEffect(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(3))
	for _, bad := range [][]string{
		{"--progress-every", "0"}, {"--progress-every", "-1s"}, {"--rate", "-5"}, {"--rate", "0"},
		{"--concurrency", "0"}, {"--concurrency", "1000"}, {"--burst", "0"}, {"--timeout", "0"},
		{"--retry-max", "-1"}, {"--drain-timeout", "-1s"}, {"--stop-after-failures", "-1"},
		{"--delimiter", "ab"}, {"--retry-wait-min", "0"}, {"--region", "mars"}, {"--base-url", "ftp://x"},
		{"--rate", "fast"}, {"--rate", "NaN"}, {"--rate", "auto", "--rate-max", "5"}, {"--rate", "auto", "--rate-max", "+Inf"},
		{"--rate", "auto", "--burst", "10"}, {"--rate", "20", "--rate-max", "100"},
	} {
		t.Run(strings.Join(bad, " "), func(t *testing.T) {
			results := filepath.Join(t.TempDir(), "r.ndjson")
			code, _, stderr := cli(t, context.Background(), fake, "", append([]string{"start-tracking", "--file", input, "--results", results}, bad...)...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			assert.NoFileExists(t, results)
		})
	}
	assert.Empty(t, fake.Requests())
}

func TestFileMayBeAPipeOrFIFO(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, _ = f.WriteString(customersCSV(5))
			f.Close()
		}
	}()
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", fifo, "--rate", "1000")
	assert.Equal(t, exitOK, code, stderr)
	assert.Len(t, fake.Requests(), 5)

	// Process substitution, <(cat c.csv), is a pipe named /dev/fd/N.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	go func() {
		_, _ = w.WriteString(customersCSV(4))
		w.Close()
	}()
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", fmt.Sprintf("/proc/self/fd/%d", r.Fd()), "--rate", "1000")
	assert.Equal(t, exitOK, code, stderr)
	assert.Len(t, fake.Requests(), 9)
	assert.Contains(t, stderr, "4 ok, 0 failed")
}

func TestHugeFieldNeitherStopsTheRunNorResume(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	huge := strings.Repeat("x", 5<<20) + "\x40example.com"
	input := writeFile(t, "c.csv", "email,customer_id\n"+email(1)+",C1\n"+huge+",C2\n"+email(3)+",C3\n")
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	assert.Equal(t, exitFailures, code, stderr)
	assert.Len(t, fake.Requests(), 2, "the huge record is not sent")
	lines := resultLines(t, results)
	require.Len(t, lines, 4)
	var invalid map[string]any
	for _, l := range lines[1:] {
		if l["line"] == float64(3) {
			invalid = l
		}
	}
	require.NotNil(t, invalid)
	assert.Equal(t, "invalid", invalid["outcome"])
	assert.Equal(t, "invalid identifier: email is longer than 512 bytes", invalid["message"])

	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "1000")
	assert.Equal(t, exitFailures, code, "the invalid record still counts: %s", stderr)
	assert.NotContains(t, stderr, "too long")
	assert.Len(t, fake.Requests(), 2, "nothing sent again")
	assert.Len(t, resultLines(t, results), 4, "nothing appended")
}

func TestResumeCountsTheRecordsItSkips(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(10))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	require.Equal(t, exitOK, code, stderr)
	// The file changed: lines 3 to 5 now hold other customers.
	changed := strings.Replace(customersCSV(10), email(1)+",C1\n"+email(2)+",C2\n"+email(3)+",C3\n", "n1\x40example.com,N1\nn2\x40example.com,N2\nn3\x40example.com,N3\n", 1)
	require.NoError(t, os.WriteFile(input, []byte(changed), 0o600))
	code, _, stderr = cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "1000")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "resume: 7 records already ok")
	assert.Len(t, fake.Requests(), 13)
}

func TestResumeKeepsEarlierInvalidRecordsWithoutAppendingThem(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(3)+",\n")
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, _ := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	require.Equal(t, exitFailures, code)
	before := resultLines(t, results)
	for range 2 {
		code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "1000")
		assert.Equal(t, exitFailures, code, "the invalid record of the first run still counts: %s", stderr)
		assert.Contains(t, stderr, "0 ok, 0 failed, 1 invalid")
	}
	assert.Equal(t, before, resultLines(t, results), "nothing appended")
	assert.Len(t, fake.Requests(), 3)
}

func TestResumeDropsATornLastLine(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", customersCSV(4))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, _ := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	require.Equal(t, exitOK, code)
	f, err := os.OpenFile(results, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"line":9,"email":"torn`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--resume", "--rate", "1000")
	assert.Equal(t, exitOK, code, stderr)
	lines := resultLines(t, results) // fails on a torn line
	assert.Len(t, lines, 5)
}

func TestRealExportsAreRead(t *testing.T) {
	utf16File := func(bigEndian bool, text string) string {
		units := utf16.Encode([]rune("\ufeff" + text))
		b := make([]byte, 0, 2*len(units))
		for _, u := range units {
			if bigEndian {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, content string
		flags         []string
		want          []blueshift.Customer
	}{
		{"mailchimp", "Email Address,First Name,Last Name\nann\x40example.com,Ann,Lee\n", nil, []blueshift.Customer{{Email: "ann\x40example.com"}}},
		{"shopify", "Customer ID,First Name,Email,Accepts Email Marketing\n7001,Ann,ann\x40example.com,yes\n", nil, []blueshift.Customer{{Email: "ann\x40example.com", CustomerID: "7001"}}},
		{"excel semicolons", "E-mail;Customer_Id;Name\r\nann\x40example.com;C1;\"Lee; Ann\"\r\n", nil, []blueshift.Customer{{Email: "ann\x40example.com", CustomerID: "C1"}}},
		{"tabs", "device id\tcookie\nD1\tK1\n", nil, []blueshift.Customer{{DeviceID: "D1", Cookie: "K1"}}},
		{"utf-16le excel unicode text", utf16File(false, "Email\tName\r\nzoë\x40example.com\tZoë\r\n"), nil, []blueshift.Customer{{Email: "zoë\x40example.com"}}},
		{"utf-16be", utf16File(true, "customer_id\n𝒜1\n"), nil, []blueshift.Customer{{CustomerID: "𝒜1"}}},
		{"named column", "Primary Mail,email\nann\x40example.com,old\x40example.com\n", []string{"--email-column", "Primary Mail"}, []blueshift.Customer{{Email: "ann\x40example.com"}}},
		{"set delimiter", "email|id\nann\x40example.com|x\n", []string{"--delimiter", "|"}, []blueshift.Customer{{Email: "ann\x40example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			args := append([]string{"start-tracking", "--file", writeFile(t, "export.csv", tc.content), "--rate", "1000"}, tc.flags...)
			code, _, stderr := cli(t, context.Background(), fake, "", args...)
			require.Equal(t, exitOK, code, stderr)
			require.Len(t, fake.Requests(), len(tc.want))
			for _, c := range tc.want {
				assert.True(t, fake.IsTracked(c), "%+v; sent %q", c, bodies(fake))
			}
		})
	}
}

func TestHeaderProblemsNameWhatWasFound(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"no usable column", "Name;Phone\nAnn;1\n", `columns found: "Name", "Phone"; delimiter ";", encoding UTF-8`},
		{"two email columns", "Email,E-mail\na,b\n", `two email columns named alike, "Email" and "E-mail"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", tc.content))
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tc.want)
			assert.Empty(t, fake.Requests())
		})
	}
}

func TestNDJSONIdentifiersMayBeIntegers(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.ndjson", `{"customer_id": 12345}
{"email": "ann@example.com", "customer_id": 12345678901234567890}
{"customer_id": 1.5}
{"customer_id": 1e3}
`)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	assert.Equal(t, exitFailures, code, stderr)
	assert.ElementsMatch(t, []string{`{"customer_id":"12345"}`, `{"email":"ann@example.com","customer_id":"12345678901234567890"}`}, bodies(fake))
	outcome := map[float64]any{}
	for _, l := range resultLines(t, results)[1:] {
		outcome[l["line"].(float64)] = l["outcome"]
	}
	assert.Equal(t, map[float64]any{1: "ok", 2: "ok", 3: "invalid", 4: "invalid"}, outcome)
}

func TestInvalidIdentifiersAreRefusedAsTheClientWould(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	input := writeFile(t, "c.csv", "email,customer_id\n"+
		"a\x01b\x40example.com,\n"+ // control character
		"\xff\xfe\x40example.com,\n"+ // invalid UTF-8
		","+strings.Repeat("9", 513)+"\n"+ // > 512 bytes
		email(1)+",C1\n")
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", input, "--results", results, "--rate", "1000")
	assert.Equal(t, exitFailures, code, stderr)
	assert.Len(t, fake.Requests(), 1)
	msgs := map[float64]any{}
	for _, l := range resultLines(t, results)[1:] {
		msgs[l["line"].(float64)] = l["message"]
	}
	assert.Equal(t, "invalid identifier: email contains a control character", msgs[2])
	assert.Equal(t, "invalid identifier: email is not valid UTF-8", msgs[3])
	assert.Equal(t, "invalid identifier: customer_id is longer than 512 bytes", msgs[4])
}

// blackHole accepts connections and never answers.
func blackHole(t *testing.T) string { return blackHoleURL(t) }

// blackHoleURL serves a listener that accepts connections and never
// answers, until the test or benchmark ends.
func blackHoleURL(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				<-done
				return
			}
			conns = append(conns, c)
		}
	}()
	return "http://" + l.Addr().String()
}

func TestBlackHoledBlueshiftStopsTheRunInBoundedTime(t *testing.T) {
	t.Setenv("BLUESHIFT_API_KEY", "k")
	input := writeFile(t, "c.csv", customersCSV(20))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	const timeout, longestBackoff = 200 * time.Millisecond, 100 * time.Millisecond
	start := time.Now()
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"start-tracking", "--file", input, "--results", results, "--base-url", blackHole(t),
		"--timeout", "200ms", "--retry-wait-min", "50ms", "--retry-wait-max", "100ms", "--concurrency", "4", "--rate", "1000", "--progress-every", "1h"}, nil, &stdout, &stderr)
	elapsed := time.Since(start)
	assert.Equal(t, exitFailures, code, stderr.String())
	assert.Contains(t, stderr.String(), "no answer within --timeout 200ms")
	assert.Contains(t, stderr.String(), "run the same command with --resume once it recovers")
	// The goal is 2 × (timeout + longest backoff) = 600ms (see
	// BenchmarkBlackHoleStop); a loaded test machine gets a generous margin.
	assert.Less(t, elapsed, 5*2*(timeout+longestBackoff), "stopped after %v", elapsed)
}

func TestNetworkFailuresRecordTheirTrueAttempts(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.DropNext(1000)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(3)), "--results", results,
		"--rate", "1000", "--concurrency", "1", "--retry-max", "2", "--stop-after-failures", "100")
	assert.Equal(t, exitFailures, code, stderr)
	lines := resultLines(t, results)[1:]
	require.Len(t, lines, 3)
	for _, l := range lines {
		assert.Equal(t, "failed", l["outcome"])
		assert.Equal(t, float64(3), l["attempts"])
	}
	assert.Len(t, fake.Requests(), 9)
}

func TestOneCustomerStopTrackingNeedsConfirmation(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	code, stdout, stderr := cli(t, context.Background(), fake, "", "stop-tracking", "--email", email(1))
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "add --yes")
	assert.Empty(t, fake.Requests(), "nothing sent")

	code, _, stderr = cli(t, context.Background(), fake, "", "stop-tracking", "--email", email(1), "--yes")
	assert.Equal(t, exitOK, code, stderr)
	assert.Len(t, fake.Requests(), 1)
}

func TestHelpCommandEqualsFlagHelp(t *testing.T) {
	for _, cmd := range []string{"start-tracking", "stop-tracking", "fake-server"} {
		code, viaHelp, stderr := cli(t, context.Background(), nil, "", "help", cmd)
		assert.Equal(t, exitOK, code)
		assert.Empty(t, stderr)
		var out, errOut strings.Builder
		assert.Equal(t, exitOK, run(context.Background(), []string{cmd, "--help"}, nil, &out, &errOut))
		assert.Empty(t, errOut.String())
		assert.Equal(t, out.String(), viaHelp)
		assert.Contains(t, viaHelp, "blueshift "+cmd)
	}
}

func TestMessagesCarryOnePrefix(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.FailNext(1, 422)
	for _, args := range [][]string{
		{"start-tracking", "--customer-id", "C1"},
		{"start-tracking", "--customer-id", "C1", "--base-url", "ftp://example.com"},
		{"start-tracking", "--customer-id", "C1", "--region", "mars"},
	} {
		_, _, stderr := cli(t, context.Background(), fake, "", args...)
		assert.True(t, strings.HasPrefix(stderr, "blueshift start-tracking: "), stderr)
		assert.Equal(t, 1, strings.Count(stderr, "blueshift"), stderr)
	}
}

func TestUnauthorizedHintNamesTheKeysSource(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	t.Setenv("BLUESHIFT_BASE_URL", fake.URL)
	t.Setenv("BLUESHIFT_API_KEY", fake.APIKey)
	keyFile := writeFile(t, "key.txt", "wrong-key\n")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"start-tracking", "--customer-id", "C1", "--api-key-file", keyFile}, nil, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "check the key in --api-key-file "+keyFile)
	assert.NotContains(t, stderr.String(), "BLUESHIFT_API_KEY")
}

func TestRandomFailuresAtLowConcurrencyAreNoOutage(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.FailRandomly(0.2) // 429 or 503: Blueshift answers, it is not down
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(300)),
		"--concurrency", "1", "--rate", "100000", "--retry-max", "10")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "300 ok, 0 failed")
}

func TestKeyMessagesNameTheirSource(t *testing.T) {
	t.Setenv("BLUESHIFT_BASE_URL", "http://127.0.0.1:1")
	for _, tc := range []struct {
		env, file, want string
	}{
		{"", "", "no API key: set BLUESHIFT_API_KEY or pass --api-key-file"},
		{"a:b", "", "the API key in BLUESHIFT_API_KEY is not a Blueshift key"},
		{"good-key", " \n", "no API key: --api-key-file "},
		{"good-key", "a:b\n", "the API key in --api-key-file "},
	} {
		t.Setenv("BLUESHIFT_API_KEY", tc.env)
		args := []string{"start-tracking", "--customer-id", "C1"}
		if tc.file != "" {
			args = append(args, "--api-key-file", writeFile(t, "key", tc.file))
		}
		var stdout, stderr strings.Builder
		assert.Equal(t, exitUsage, run(context.Background(), args, nil, &stdout, &stderr))
		assert.Contains(t, stderr.String(), tc.want)
		assert.NotContains(t, stderr.String(), "a:b", "never the key")
	}
}
