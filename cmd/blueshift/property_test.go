package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// genRecord is one record of a generated input file.
type genRecord struct {
	line     int64
	customer blueshift.Customer // as the fake would receive it (trimmed)
	valid    bool
}

// genFile writes a random bulk input and returns its records: CSV (with
// quoted fields holding delimiters, quotes and newlines, blank lines, a
// BOM, CRLF), NDJSON (with integer IDs, blank and broken lines) or a JSON
// array (elements that share lines, and elements that are not objects).
func genFile(rng *rand.Rand, n int) (string, string, []genRecord) {
	switch rng.IntN(6) {
	case 0, 1:
		return genNDJSON(rng, n)
	case 2:
		return genJSONArray(rng, n)
	}
	return genCSV(rng, n)
}

// genJSONArray writes a JSON array whose elements start on new lines or
// share one; a record's line is where its element starts, or one more
// than the element before's.
func genJSONArray(rng *rand.Rand, n int) (string, string, []genRecord) {
	var b strings.Builder
	var recs []genRecord
	line, last := int64(1), int64(0)
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		for rng.IntN(2) == 0 {
			b.WriteString("\n  ")
			line++
		}
		at := max(line, last+1)
		last = at
		if rng.IntN(10) == 0 {
			b.WriteString(`"not an object"`)
			recs = append(recs, genRecord{line: at})
			continue
		}
		c, valid := genCustomer(rng, i)
		text, _ := json.Marshal(map[string]any{"email": c.Email, "customer_id": c.CustomerID, "cookie": c.Cookie, "device_id": c.DeviceID, "tags": []any{1, map[string]any{"a": nil}}})
		b.Write(text)
		recs = append(recs, genRecord{line: at, customer: c, valid: valid})
	}
	b.WriteString("\n]\n")
	return "c.json", b.String(), recs
}

// genCustomer returns customer i with a random non-empty set of identifiers,
// or an invalid one.
func genCustomer(rng *rand.Rand, i int) (blueshift.Customer, bool) {
	var c blueshift.Customer
	switch rng.IntN(8) {
	case 0:
		return c, false // no identifier
	case 1:
		return blueshift.Customer{Email: fmt.Sprintf("bad\x01%d\x40example.com", i)}, false
	}
	for c == (blueshift.Customer{}) {
		if rng.IntN(2) == 0 {
			c.Email = fmt.Sprintf("u%d\x40example.com", i)
		}
		if rng.IntN(2) == 0 {
			c.CustomerID = fmt.Sprintf("C%d", i)
		}
		if rng.IntN(4) == 0 {
			c.Cookie = fmt.Sprintf("ck-%d", i)
		}
		if rng.IntN(4) == 0 {
			c.DeviceID = fmt.Sprintf("dev,%d", i) // a delimiter inside: quoted
		}
	}
	return c, true
}

func genCSV(rng *rand.Rand, n int) (string, string, []genRecord) {
	nl := "\n"
	if rng.IntN(2) == 0 {
		nl = "\r\n"
	}
	var b strings.Builder
	if rng.IntN(2) == 0 {
		b.WriteString("\ufeff")
	}
	line := int64(1)
	b.WriteString("Name,E-mail,Customer ID,cookie,device_id" + nl)
	quote := func(s string) string {
		if strings.ContainsAny(s, ",\"\n") || rng.IntN(4) == 0 {
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
		return s
	}
	var recs []genRecord
	for i := range n {
		for rng.IntN(5) == 0 {
			b.WriteString(nl)
			line++
		}
		c, valid := genCustomer(rng, i)
		name := fmt.Sprintf("Doe, \"J\" %d", i)
		if rng.IntN(3) == 0 {
			name += nl + "second line"
		}
		recs = append(recs, genRecord{line: line + 1, customer: c, valid: valid})
		row := strings.Join([]string{quote(name), quote(" " + c.Email), quote(c.CustomerID), quote(c.Cookie), quote(c.DeviceID)}, ",") + nl
		b.WriteString(row)
		line += int64(strings.Count(row, "\n"))
	}
	return "c.csv", b.String(), recs
}

func genNDJSON(rng *rand.Rand, n int) (string, string, []genRecord) {
	var b strings.Builder
	var recs []genRecord
	line := int64(0)
	for i := range n {
		for rng.IntN(5) == 0 {
			b.WriteString("\n")
			line++
		}
		line++
		if i > 0 && rng.IntN(10) == 0 { // a first line that is not JSON ends the input
			b.WriteString("{not json\n")
			recs = append(recs, genRecord{line: line})
			continue
		}
		c, valid := genCustomer(rng, i)
		members := map[string]any{"email": c.Email, "cookie": c.Cookie, "device_id": c.DeviceID}
		if c.CustomerID != "" && rng.IntN(2) == 0 {
			c.CustomerID = fmt.Sprint(9_000_000_000_000_000_000 + uint64(i)) // beyond int64
			members["customer_id"] = json.Number(c.CustomerID)
		} else {
			members["customer_id"] = c.CustomerID
		}
		text, _ := json.Marshal(members)
		b.Write(text)
		b.WriteString("\n")
		recs = append(recs, genRecord{line: line, customer: c, valid: valid})
	}
	return "c.ndjson", b.String(), recs
}

// customerKey names a customer as the fake received it.
func customerKey(c blueshift.Customer) string {
	c = c.Trimmed()
	return strings.Join([]string{c.Email, c.CustomerID, c.Cookie, c.DeviceID}, "\x00")
}

// receivedKeys returns the customers of requests, in order.
func receivedKeys(t *testing.T, reqs []blueshifttest.Request) []string {
	var keys []string
	for _, r := range reqs {
		var c blueshift.Customer
		require.NoError(t, json.Unmarshal(r.Body, &c))
		keys = append(keys, customerKey(c))
	}
	return keys
}

// okKeys returns the customers the results file records ok, reading only
// its complete lines (a torn last line may be there).
func okKeys(t *testing.T, path string) map[string]bool {
	ok := map[string]bool{}
	b, err := os.ReadFile(path)
	if err != nil {
		return ok
	}
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[:len(lines)-1] {
		var r resultsfile.Result
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		if r.Outcome == resultsfile.OutcomeOK {
			ok[customerKey(blueshift.Customer{Email: r.Email, CustomerID: r.CustomerID, Cookie: r.Cookie, DeviceID: r.DeviceID})] = true
		}
	}
	return ok
}

// interruptAfter cancels the run (first interrupt, and with hard the
// second too) once the fake has received n more requests.
func interruptAfter(fake *blueshifttest.Server, n int, hard bool) (context.Context, func()) {
	soft, cancelSoft := context.WithCancel(context.Background())
	hardCtx, cancelHard := context.WithCancel(context.Background())
	base := len(fake.Requests())
	done := make(chan struct{})
	go func() {
		for len(fake.Requests()) < base+n {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
		cancelSoft()
		if hard {
			cancelHard()
		}
	}()
	return withHardStop(soft, hardCtx), func() { close(done); cancelSoft(); cancelHard() }
}

// TestPropertyResumeRecordsEveryRecordExactlyOnce: for random files, random
// failures of the fake, random interruptions (first or second interrupt,
// torn last lines) and --resume until done, the results hold exactly one
// final outcome per input record, every ok record reached the fake, and no
// record was sent after it was recorded ok.
func TestPropertyResumeRecordsEveryRecordExactlyOnce(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 10))
	for iter := range 40 {
		t.Run(fmt.Sprint(iter), func(t *testing.T) { propertyRound(t, rng) })
	}
}

func propertyRound(t *testing.T, rng *rand.Rand) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	name, content, recs := genFile(rng, rng.IntN(40))
	input := writeFile(t, name, content)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	args := []string{"start-tracking", "--file", input, "--results", results, "--rate", "100000",
		"--concurrency", fmt.Sprint(1 + rng.IntN(4)), "--retry-max", fmt.Sprint(rng.IntN(3))}
	var received []string
	for round := 0; ; round++ {
		require.Less(t, round, 12, "the runs never completed")
		healthy := round >= 6 || rng.IntN(3) == 0
		if !healthy {
			fake.FailRandomly(rng.Float64() / 2)
			fake.FailNext(rng.IntN(4), []int{422, 500, 503}[rng.IntN(3)])
			fake.DropNext(rng.IntN(3))
		}
		okBefore := okKeys(t, results)
		before := len(fake.Requests())
		ctx, cancel := context.Background(), func() {}
		if !healthy && rng.IntN(2) == 0 {
			ctx, cancel = interruptAfter(fake, rng.IntN(10), rng.IntN(2) == 0)
		}
		roundArgs := args
		if round > 0 {
			roundArgs = append(args, "--resume")
		}
		code, _, stderr := cli(t, ctx, fake, "", roundArgs...)
		cancel()
		require.Contains(t, []int{exitOK, exitFailures, exitInterrupted}, code, stderr)
		sent := receivedKeys(t, fake.Requests()[before:])
		for _, k := range sent {
			require.False(t, okBefore[k], "sent after it was recorded ok: %q (round %d)", k, round)
		}
		received = append(received, sent...)
		if done := checkFinal(t, results, recs, false); done && healthy {
			break
		}
		if rng.IntN(4) == 0 { // a crash mid-write
			appendTorn(t, results)
		}
		fake.Reset()
	}
	checkFinal(t, results, recs, true)
	got := map[string]bool{}
	for _, k := range received {
		got[k] = true
	}
	for k := range okKeys(t, results) {
		require.True(t, got[k], "recorded ok but never reached the fake: %q", k)
	}
}

// checkFinal reports whether every record has its final outcome: ok for
// valid records, invalid for the rest, each recorded exactly once. With
// must, it fails the test otherwise.
func checkFinal(t *testing.T, results string, recs []genRecord, must bool) bool {
	b, err := os.ReadFile(results)
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		// none yet, or a torn line a run interrupted before it opened the
		// file left as it was
		require.False(t, must, "no results file, or a torn last line")
		return false
	}
	all, last := resultsOf(t, results)
	finals := map[int]int{}
	for _, r := range all {
		if r.Outcome == resultsfile.OutcomeOK || r.Outcome == resultsfile.OutcomeInvalid {
			finals[r.Line]++
		}
	}
	want := map[int]bool{}
	for _, rec := range recs {
		want[int(rec.line)] = true
		wantOutcome := resultsfile.OutcomeInvalid
		if rec.valid {
			wantOutcome = resultsfile.OutcomeOK
		}
		r, ok := last[int(rec.line)]
		complete := ok && r.Outcome == wantOutcome && finals[int(rec.line)] == 1
		if !complete && !must {
			return false
		}
		require.True(t, complete, "line %d: want one %s, got %+v (%d final entries)", rec.line, wantOutcome, r, finals[int(rec.line)])
		if rec.valid {
			require.Equal(t, customerKey(rec.customer), customerKey(blueshift.Customer{Email: r.Email, CustomerID: r.CustomerID, Cookie: r.Cookie, DeviceID: r.DeviceID}))
		}
	}
	for line, n := range finals {
		require.True(t, want[line], "line %d holds no record but has %d outcomes", line, n)
	}
	return true
}

// appendTorn appends half a line, as a crash in the middle of a write would.
func appendTorn(t *testing.T, path string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	_, err = f.WriteString(`{"line":2,"email":"x","outcome":"o`)
	require.NoError(t, err)
}
