package main

// Each test here reproduces a defect a review of issue 10 found, through
// the command's behaviour only (exit code, output, what the fake received,
// the results file).

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/bulk"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
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

// runLines runs start-tracking over input and returns the exit code, the
// bodies the fake received, and the last result of each input line.
func runLines(t *testing.T, name, input string) (int, []string, map[int]resultsfile.Result) {
	t.Helper()
	fake := blueshifttest.NewServer()
	defer fake.Close()
	results := filepath.Join(t.TempDir(), "r.ndjson")
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--file", writeFile(t, name, input), "--results", results, "--rate", "100000", "--concurrency", "1")
	require.NotEqual(t, exitUsage, code, stderr)
	_, last := resultsOf(t, results)
	return code, bodies(fake), last
}

func TestNDJSONStringThatIsNotUTF8IsInvalidNotSent(t *testing.T) {
	input := "{\"email\":\"jos\xe9\x40example.com\"}\n" + // 1: a Latin-1 byte
		`{"email":"\ud800\u0040example.com"}` + "\n" + // 2: a lone high surrogate
		`{"email":"\udc00x\u0040example.com"}` + "\n" + // 3: a lone low surrogate
		`{"email":"\ud800\u0041\u0040example.com"}` + "\n" + // 4: a high surrogate, then no low one
		`{"email":"\ud800\udc00\u0040example.com"}` + "\n" + // 5: a pair: U+10000
		`{"email":"a\ufffd\u0040example.com"}` + "\n" + // 6: the escape of U+FFFD is a real character
		"{\"email\":\"b\ufffd\x40example.com\"}\n" + // 7: so is U+FFFD written out
		"{\"customer_id\":\"C\xff\"}\n" // 8: any identifier
	code, sent, last := runLines(t, "c.ndjson", input)
	assert.Equal(t, exitFailures, code)
	assert.Equal(t, resultsfile.OutcomeInvalid, last[1].Outcome)
	assert.Equal(t, "invalid identifier: email is not valid UTF-8", last[1].Message)
	for line := 2; line <= 4; line++ { // not an encoding problem: named for what it is
		assert.Equal(t, resultsfile.OutcomeInvalid, last[line].Outcome, "line %d", line)
		assert.Equal(t, `invalid identifier: email holds a UTF-16 surrogate without its pair (such as \ud800): it is not text in any encoding`, last[line].Message, "line %d", line)
	}
	assert.Equal(t, resultsfile.OutcomeInvalid, last[8].Outcome)
	assert.Equal(t, "invalid identifier: customer_id is not valid UTF-8", last[8].Message)
	assert.Equal(t, []string{
		"{\"email\":\"\U00010000\x40example.com\"}",
		"{\"email\":\"a\ufffd\x40example.com\"}",
		"{\"email\":\"b\ufffd\x40example.com\"}",
	}, sent)
}

func TestNDJSONMemberNamedTwiceIsInvalid(t *testing.T) {
	input := `{"email":"keep-me@example.com","email":"forget-me@example.com"}` + "\n" +
		`{"em\u0061il":"keep-me@example.com","email":"forget-me@example.com"}` + "\n" +
		`{"customer_id":1,"customer_id":null}` + "\n" +
		`{"email":"ok@example.com","note":1,"note":2}` + "\n"
	code, sent, last := runLines(t, "c.ndjson", input)
	assert.Equal(t, exitFailures, code)
	for line := 1; line <= 3; line++ {
		assert.Equal(t, resultsfile.OutcomeInvalid, last[line].Outcome, "line %d", line)
		assert.Contains(t, last[line].Message, "two members hold the", "line %d", line)
	}
	assert.Equal(t, []string{`{"email":"ok@example.com"}`}, sent, "other members may repeat")
}

func TestNDJSONBigNonIdentifierMemberDoesNotInvalidateTheRecord(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	input := `{"email":"ann@example.com","note":"` + big + `"}` + "\n" +
		`{"note":[{"a":"` + big + `","b":[1,2.5e3,true,null]}],"customer_id":7}` + "\n" +
		`{"note":"` + big + `"` + "\n" + // not JSON: cut short
		`{"email":"bob@example.com"}` + "\n"
	code, sent, last := runLines(t, "c.ndjson", input)
	assert.Equal(t, exitFailures, code)
	assert.Equal(t, []string{`{"email":"ann@example.com"}`, `{"customer_id":"7"}`, `{"email":"bob@example.com"}`}, sent)
	assert.Equal(t, "not a JSON object", last[3].Message)
}

func TestNDJSONHugeMemberKeepsMemoryFlat(t *testing.T) {
	line := []byte(`{"note":"` + strings.Repeat("y", 5<<20) + `","email":"ann@example.com","more":[` + strings.Repeat(`"z",`, 1<<20) + `0]}` + "\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rr, _, err := input.NewReader("c.ndjson", bytes.NewReader(line), input.Options{})
	require.NoError(t, err)
	rec, err := rr.Next()
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	assert.Empty(t, rec.Invalid)
	assert.Equal(t, "ann@example.com", rec.Customer.Email)
	_, err = rr.Next()
	assert.ErrorIs(t, err, io.EOF)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated to read a 9 MiB line")
}

func TestBulkTrimsLikeTheClientBeforeLimitingLength(t *testing.T) {
	values := []string{
		strings.Repeat(" ", 1100) + "ann@example.com",
		"bob@example.com" + strings.Repeat(" ", 2000),
		strings.Repeat("\u200b", 400) + "cy@example.com" + strings.Repeat("\ufeff\t", 400),
		strings.Repeat("\u00a0\u3000", 300) + "di@example.com",
		strings.Repeat(" ", 1100) + strings.Repeat("e", 500) + "@x.com", // 506 bytes
		strings.Repeat(" ", 1100) + strings.Repeat("f", 510) + "@x.com", // 516 bytes
		strings.Repeat(" ", 10) + strings.Repeat("g", 1100) + "@x.com" + strings.Repeat(" ", 10),
		strings.Repeat("h", 1000) + strings.Repeat(" ", 100) + "@x.com",
	}
	var csvIn, ndjsonIn strings.Builder
	csvIn.WriteString("email\n")
	var want []string
	wantInvalid := map[int]string{}
	for i, v := range values {
		csvIn.WriteString(v + "\n")
		quoted, err := json.Marshal(v)
		require.NoError(t, err)
		ndjsonIn.WriteString(`{"email":` + string(quoted) + `}` + "\n")
		if err := (blueshift.Customer{Email: v}).Validate(); err != nil {
			wantInvalid[i] = bulk.ErrText(err)
			continue
		}
		want = append(want, `{"email":"`+blueshift.Customer{Email: v}.Trimmed().Email+`"}`)
	}
	require.Len(t, want, 5, "the table covers both outcomes")
	for _, tc := range []struct{ name, input string }{{"c.csv", csvIn.String()}, {"c.ndjson", ndjsonIn.String()}} {
		t.Run(tc.name, func(t *testing.T) {
			_, sent, last := runLines(t, tc.name, tc.input)
			assert.Equal(t, want, sent)
			offset := 1
			if tc.name == "c.csv" {
				offset = 2
			}
			for i, msg := range wantInvalid {
				assert.Equal(t, resultsfile.OutcomeInvalid, last[i+offset].Outcome, "value %d", i)
				assert.Equal(t, msg, last[i+offset].Message, "value %d", i)
			}
		})
	}
}
