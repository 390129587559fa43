package main

// Tests of the defects an outside reviewer reproduced after issue 17's
// rework (/tmp/review17), each seen failing before its fix.

import (
	"context"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// A column flag that names the column another identifier takes by default
// moves that column: the other identifier then has no column unless its
// own flag names one. CSV and JSON give the same result, and the printed
// "identifiers:" line says exactly what is read.
func TestColumnFlagMovesAnotherIdentifiersDefaultColumn(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	const a, b = "a@example.com", "b@example.com"
	csvIn := "Email,Customer ID\n" + a + "," + b + "\n"
	jsonIn := `{"email":"` + a + `","customer_id":"` + b + `"}` + "\n"
	for _, tc := range []struct {
		name  string
		flags []string
		body  string
		csv   string // the identifiers line for csvIn
		json  string // the identifiers line for jsonIn
	}{
		{
			name:  "customer id from email",
			flags: []string{"--customer-id-column", "email"},
			body:  `{"customer_id":"` + a + `"}`,
			csv:   `identifiers: email none, customer_id from column "Email", cookie none, device_id none`,
			json:  `identifiers: email none, customer_id from members named like "email", cookie from members named like "cookie", device_id from members named like "device_id"`,
		},
		{
			name:  "email from customer id",
			flags: []string{"--email-column", "customer id"},
			body:  `{"email":"` + b + `"}`,
			csv:   `identifiers: email from column "Customer ID", customer_id none, cookie none, device_id none`,
			json:  `identifiers: email from members named like "customer id", customer_id none, cookie from members named like "cookie", device_id from members named like "device_id"`,
		},
		{
			name:  "swapped",
			flags: []string{"--email-column", "customer_id", "--customer-id-column", "E-Mail"},
			body:  `{"email":"` + b + `","customer_id":"` + a + `"}`,
			csv:   `identifiers: email from column "Customer ID", customer_id from column "Email", cookie none, device_id none`,
			json:  `identifiers: email from members named like "customer_id", customer_id from members named like "E-Mail", cookie from members named like "cookie", device_id from members named like "device_id"`,
		},
	} {
		for _, in := range []struct{ file, content, want string }{
			{"in.csv", csvIn, tc.csv},
			{"in.ndjson", jsonIn, tc.json},
			{"in.json", "[" + strings.TrimSpace(jsonIn) + "]", tc.json},
		} {
			t.Run(tc.name+"/"+in.file, func(t *testing.T) {
				fake.Reset()
				args := append([]string{"stop-tracking", "--yes", "--rate", "1000", "--file", writeFile(t, in.file, in.content)}, tc.flags...)
				code, _, stderr := cli(t, context.Background(), fake, "", args...)
				require.Equal(t, exitOK, code, stderr)
				assert.Contains(t, stderr, in.want+"\n")
				assert.Equal(t, []string{tc.body}, bodies(fake))
			})
		}
	}
}

// utf16LE encodes s as UTF-16LE, with a BOM when bom is set. A rune of
// s above U+FFFF is written as its surrogate pair; the test adds broken
// code units by hand.
func utf16LE(s string, bom bool) string {
	var b []byte
	if bom {
		b = append(b, 0xff, 0xfe)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

// Badly formed UTF-16 (an unpaired surrogate, an odd trailing byte) is
// refused before anything is sent, never decoded into U+FFFD and sent;
// from a pipe the run stops there, with nothing of the bad record sent.
func TestBadlyFormedUTF16IsRefusedNotSentAsFFFD(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	lone := "\x00\xd8" // U+D800 alone, little-endian
	for _, tc := range []struct{ name, content, why string }{
		{"surrogate.ndjson", utf16LE(`{"email":"`, true) + lone + utf16LE(`x@example.com"}`+"\n"+`{"email":"ok@example.com"}`+"\n", false), "an unpaired surrogate"},
		{"surrogate.csv", utf16LE("Email\r\n", true) + lone + utf16LE("x@example.com\r\nok@example.com\r\n", false), "an unpaired surrogate"},
		{"highlast.csv", utf16LE("Email\r\nok@example.com\r\nx@example.com", true) + lone, "an unpaired surrogate"},
		{"odd.csv", utf16LE("Email\r\nok@example.com\r\n", true) + "z", "an odd number of bytes"},
		{"odd.ndjson", utf16LE(`{"email":"ok@example.com"}`+"\n", true) + "z", "an odd number of bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.Reset()
			code, _, stderr := cli(t, context.Background(), fake, "", "stop-tracking", "--yes", "--rate", "1000", "--file", writeFile(t, tc.name, tc.content))
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, "not valid UTF-16LE: "+tc.why)
			assert.Contains(t, stderr, "nothing was sent")
			assert.Empty(t, fake.Requests())

			fake.Reset()
			code, _, stderr = cli(t, context.Background(), fake, tc.content, "start-tracking", "--rate", "1000", "--file", "-")
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, "not valid UTF-16LE: "+tc.why)
			for _, body := range bodies(fake) {
				assert.NotContains(t, body, "\ufffd")
				assert.NotContains(t, body, `\ufffd`)
				assert.NotContains(t, body, "x@example.com")
			}
		})
	}
}

// UTF-16 without a BOM is refused with its reason whatever the script of
// its text: the zero bytes of its ASCII-range characters (delimiters,
// quotes, line ends) sit at all even or all odd positions.
func TestUTF16WithoutBOMInNonLatinTextIsRefusedWithItsReason(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	csvText := "Имя,Email,Фамилия\r\nЖанна,zh@example.com,Петрова\r\n"
	jsonText := `{"name":"Жанна Петрова","email":"zh@example.com"}` + "\n"
	swap := func(s string) string { // little- to big-endian
		b := []byte(s)
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
		return string(b)
	}
	for _, tc := range []struct{ name, content string }{
		{"le.csv", utf16LE(csvText, false)},
		{"be.csv", swap(utf16LE(csvText, false))},
		{"le.ndjson", utf16LE(jsonText, false)},
		{"be.ndjson", swap(utf16LE(jsonText, false))},
		{"cyrillic-only-header.csv", utf16LE("Имя,Фамилия\r\n", false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.Reset()
			code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--rate", "1000", "--file", writeFile(t, tc.name, tc.content))
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, "every other byte is zero): save it as UTF-8")
			assert.Empty(t, fake.Requests())
		})
	}
	// UTF-8 text of any script is read as it is.
	code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--rate", "1000", "--file", writeFile(t, "u8.csv", csvText))
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, []string{`{"email":"zh@example.com"}`}, bodies(fake))
}

// stop-tracking's announcement counts what it will send: records with an
// identifier, not blank lines nor invalid records, which are never sent.
func TestStopTrackingAnnouncementCountsOnlyWhatIsSent(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	host := strings.TrimPrefix(fake.URL, "http://")
	for _, tc := range []struct{ name, content, want string }{
		{"a.ndjson", `{"email":"a@example.com"}` + "\n\n[1]\n{}\n" + `{"email":"b@example.com"}` + "\n",
			"Blueshift at " + host + " will delete the personal data of the customer of each of 2 records (2 invalid records are not sent)"},
		{"a.csv", "email,name\na@example.com,A\n,B\n",
			"Blueshift at " + host + " will delete the personal data of the customer of 1 record (1 invalid record is not sent)"},
		{"b.csv", "email\na@example.com\n",
			"Blueshift at " + host + " will delete the personal data of the customer of 1 record (confirmed by --yes)"},
	} {
		fake.Reset()
		_, _, stderr := cli(t, context.Background(), fake, "", "stop-tracking", "--yes", "--rate", "1000", "--file", writeFile(t, tc.name, tc.content))
		assert.Contains(t, stderr, tc.want, tc.name)
	}
}

// Column flags and headers that cannot work are refused up front, before
// anything is sent, each with its own reason and advice that works, the
// same for every format.
func TestColumnProblemsGetAdviceThatWorks(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	allNone := []string{"--email-column", "none", "--customer-id-column", "NONE", "--cookie-column", "none", "--device-id-column", "none"}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		flags   []string
		want    string
		advised []string // flags the message advises: with them the run works
	}{
		{"two email columns named alike", map[string]string{"e.csv": "email,E-Mail,customer_id\na@example.com,b@example.com,C1\n"}, nil,
			`the CSV header has two email columns named alike, "email" and "E-Mail": rename one of them, or turn the email off with --email-column none`,
			[]string{"--email-column", "none"}},
		{"email,email", map[string]string{"e.csv": "email,email,customer_id\na@example.com,b@example.com,C1\n"}, nil,
			`the CSV header has two email columns named alike, "email" and "email": rename one of them, or turn the email off with --email-column none`,
			[]string{"--email-column", "none"}},
		{"two email columns named differently", map[string]string{"e.csv": "Email Address,email\na@example.com,b@example.com\n"}, nil,
			`the CSV header has two email columns, "Email Address" and "email": pick one with --email-column (--email-column "Email Address", say), or turn it off with --email-column none`,
			[]string{"--email-column", "Email Address"}},
		{"blank flag", map[string]string{"e.csv": "email\na@example.com\n", "e.ndjson": `{"email":"a@example.com"}` + "\n"}, []string{"--email-column", "  "},
			`--email-column "  " names no column: a name needs a letter or digit (names match ignoring case, spaces, _ and -)`, nil},
		{"punctuation flag", map[string]string{"e.csv": "email\na@example.com\n", "e.ndjson": `{"email":"a@example.com"}` + "\n"}, []string{"--cookie-column", "-"},
			`--cookie-column "-" names no column: a name needs a letter or digit (names match ignoring case, spaces, _ and -)`, nil},
		{"every identifier none", map[string]string{"e.csv": "email\na@example.com\n", "e.ndjson": `{"email":"a@example.com"}` + "\n", "e.json": `[{"email":"a@example.com"}]`}, allNone,
			"every identifier is turned off (--email-column, --customer-id-column, --cookie-column and --device-id-column are all none): nothing could be sent", nil},
	} {
		for file, content := range tc.files {
			t.Run(tc.name+"/"+file, func(t *testing.T) {
				fake.Reset()
				path := writeFile(t, file, content)
				args := append([]string{"start-tracking", "--rate", "1000", "--file", path}, tc.flags...)
				code, _, stderr := cli(t, context.Background(), fake, "", args...)
				assert.Equal(t, exitUsage, code, stderr)
				assert.Contains(t, stderr, tc.want)
				assert.NotContains(t, stderr, "name the same column")
				assert.Empty(t, fake.Requests())
				if tc.advised != nil {
					args := append([]string{"start-tracking", "--rate", "1000", "--file", path}, tc.advised...)
					code, _, stderr := cli(t, context.Background(), fake, "", args...)
					assert.Equal(t, exitOK, code, "the advice works: "+stderr)
				}
			})
		}
	}
}

// fake-server --log logs only the fake's known endpoint paths ("other"
// for anything else: a path may hold anything, an email address even),
// and names the identifiers the fake itself accepted: its JSON decoding
// matches member names ignoring case, and trims as the client does.
func TestFakeServerLogNamesOnlyKnownPathsAndWhatItAccepted(t *testing.T) {
	code, log := fakeServerLog(t, []fakeRequest{
		{"/api/v1/customers/ann@secret.example/forget", `{"email":"ann@secret.example"}`},
		{blueshifttest.StartTrackingPath + "?email=bob@secret.example", `{"Email":"x@example.com"}`},
		{blueshifttest.StopTrackingPath, `{"CUSTOMER_ID":"C1","email":"   "}`},
	})
	assert.Equal(t, exitOK, code)
	assert.NotContains(t, log, "secret.example")
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} POST other 404 email$`, log)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} POST /api/v1/customers/unforget 200 email$`, log)
	assert.Regexp(t, `(?m)^\d\d:\d\d:\d\d\.\d{3} POST /api/v1/customers/forget 200 customer_id$`, log)
	assert.Contains(t, log, "fake-server summary: 3 requests; other 404: 1; start-tracking 200: 1; stop-tracking 200: 1; 3 distinct customers")
}

// An escaped surrogate without its pair, in a file that is all ASCII, is
// invalid for what it is, and earns no "save it as UTF-8" hint: no
// encoding would make it text.
func TestLoneSurrogateEscapeIsNamedNotBlamedOnTheEncoding(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	for _, esc := range []string{`\ud800`, `\udfff`, `\ud83d\u0041`} {
		fake.Reset()
		content := `{"email":"ann` + esc + `@example.com"}` + "\n" + `{"email":"bob@example.com"}` + "\n"
		results := writeFile(t, "r.ndjson", "") + ".results"
		code, _, stderr := cli(t, context.Background(), fake, "", "start-tracking", "--rate", "1000", "--results", results, "--file", writeFile(t, "s.ndjson", content))
		assert.Equal(t, exitFailures, code, stderr)
		assert.NotContains(t, stderr, "save it as UTF-8", esc)
		_, last := resultsOf(t, results)
		assert.Equal(t, "invalid identifier: email holds a UTF-16 surrogate without its pair (such as \\ud800): it is not text in any encoding", last[1].Message, esc)
		assert.Equal(t, []string{`{"email":"bob@example.com"}`}, bodies(fake), esc)
	}
}
