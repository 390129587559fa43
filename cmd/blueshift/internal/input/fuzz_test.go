package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// FuzzCSVParser checks the bounded CSV parser against encoding/csv: the
// same records, fields and starting lines, and the same syntax errors
// (kind, starting line and line found) up to the first error.
func FuzzCSVParser(f *testing.F) {
	for _, seed := range []string{
		"a,b\n1,2\n", "\"a,b\",c\r\n\"x\"\"y\",z", "a\n\"unterminated\n1,2\n", "a\"b,c\n", "\"a\"b,c\n",
		"\n\n a ; b \r\n\r\n", "\"multi\nline\",x\n", strings.Repeat("x", 1100) + ",y\n\"" + strings.Repeat("z\n", 600) + "\"\n", "x\r", "\"x\"\r", "a\r\rb\n", "\"\"\n", ",\n,,\n", "\"a\n\nb\"\n\n",
	} {
		f.Add([]byte(seed), byte(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, d byte) {
		delim := []byte{',', ';', '\t', '|'}[int(d)%4]
		const cols = 64
		want := csv.NewReader(bytes.NewReader(data))
		want.Comma, want.FieldsPerRecord = rune(delim), -1
		p := newCSVParser(bufio.NewReaderSize(bytes.NewReader(data), 16), delim, cols)
		for {
			wantRec, wantErr := want.Read()
			start, err := p.read()
			if wantErr != nil || err != nil {
				requireSameError(t, wantErr, err)
				return
			}
			wantLine, _ := want.FieldPos(0)
			require.Equal(t, int64(wantLine), start)
			require.Equal(t, len(wantRec), p.n)
			for i := 0; i < len(wantRec) && i < cols; i++ {
				// Kept as the client trims it: leading trimmable characters
				// dropped, and cut only when too long once trimmed.
				got, wantField := p.fields[i], wantRec[i]
				trimmed := blueshift.Customer{Email: wantField}.Trimmed().Email
				if got.cut {
					require.Greater(t, len(trimmed), MaxField-utf8.UTFMax, "field %d", i)
				} else {
					require.Equal(t, trimmed, blueshift.Customer{Email: string(got.buf)}.Trimmed().Email, "field %d", i)
					leading := strings.TrimLeftFunc(wantField, func(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' })
					require.True(t, strings.HasPrefix(leading, string(got.buf)), "field %d", i)
				}
			}
		}
	})
}

func requireSameError(t *testing.T, want, got error) {
	t.Helper()
	if errors.Is(want, io.EOF) || errors.Is(got, io.EOF) {
		require.ErrorIs(t, want, io.EOF)
		require.ErrorIs(t, got, io.EOF)
		return
	}
	var wantPE, gotPE *csv.ParseError
	require.ErrorAs(t, want, &wantPE)
	require.ErrorAs(t, got, &gotPE)
	require.Equal(t, wantPE.Err, gotPE.Err)
	require.Equal(t, wantPE.StartLine, gotPE.StartLine)
	require.Equal(t, wantPE.Line, gotPE.Line)
	require.Equal(t, wantPE.Column, gotPE.Column, "column")
}

// FuzzRecordReader reads any input (UTF-8 or UTF-16, CSV or NDJSON, any
// flags): it never panics, lines only increase, a record is invalid exactly
// when the client would refuse it, and kept identifiers stay bounded.
func FuzzRecordReader(f *testing.F) {
	for _, seed := range []string{
		"email\nann\x40example.com\n", "\ufeffCustomer ID;Email\n1;a\n", "\xff\xfee\x00m\x00a\x00i\x00l\x00\n\x00x\x00",
		"\xfe\xff\x00e\x00m\x00a\x00i\x00l\x00\n\x00\xd8\x3d\xde\x00", `{"customer_id": 123}` + "\n" + `{"email": 1.5}`,
		"{\"email\":\"a\"}\n\n{}\nnot json\n", "E-mail,Email\n", "cookie\tdevice id\nc\td\n",
	} {
		f.Add([]byte(seed), "", byte(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, name string, d byte) {
		opt := Options{Delimiter: []byte{0, ',', ';', '\t'}[int(d)%4]}
		if d&4 != 0 {
			opt.Columns.Flags[SlotEmail] = "email"
		}
		rr, _, err := NewReader(name, bytes.NewReader(data), opt)
		if err != nil {
			return
		}
		last := int64(0)
		for range 10000 {
			rec, err := rr.Next()
			if err != nil {
				return
			}
			require.Greater(t, rec.Line, last)
			last = rec.Line
			c := rec.Customer
			for _, v := range []string{c.Email, c.CustomerID, c.Cookie, c.DeviceID} {
				require.LessOrEqual(t, len(v), MaxField)
			}
			if rec.Invalid == "" {
				require.NoError(t, c.Validate())
			}
		}
	})
}

// FuzzNDJSONLine checks the streaming NDJSON reader against encoding/json
// on one line: it is "not a JSON object" exactly when encoding/json
// refuses the line or it is not an object, and an identifier it keeps is
// the one encoding/json decodes, when the line is valid UTF-8 without
// repeated members.
func FuzzNDJSONLine(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.c"}`, `{"email":"a\u0040b","x":[1,{"y":null}],"z":-0.5e+3}`, `{"customer_id":12345678901234567890}`,
		`{"email":"\ud800\udc00"}`, `{"email":1.5}`, `{"a":tru}`, `[1]`, `{"a":"\x01"}`, `{"a":01}`, `{"email":" x "} `, `{"a":{}}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(checkNDJSONLine)
}

// checkNDJSONLine is FuzzNDJSONLine's check of one line.
func checkNDJSONLine(t *testing.T, line []byte) {
	if bytes.ContainsAny(line, "\n") {
		return
	}
	trimmed := bytes.TrimLeft(line, " \t\r")
	if len(bytes.TrimSpace(line)) == 0 || trimmed[0] == '[' {
		return // a blank line: no record; an array: FuzzJSONArray
	}
	// After a first line that is an object: a first line that is not one
	// ends the input instead (errNotNDJSON).
	rr := newJSONReader(bufio.NewReaderSize(bytes.NewReader(append([]byte("{}\n"), line...)), 16), Options{})
	_, err := rr.Next()
	require.NoError(t, err)
	rec, err := rr.Next()
	require.NoError(t, err)
	// json.Valid, not Unmarshal: Unmarshal refuses valid JSON whose number
	// overflows a float64 ({"":1e700}, found by this fuzzer).
	var obj map[string]any
	valid := json.Valid(line) && trimmed[0] == '{'
	if valid {
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		valid = dec.Decode(&obj) == nil && obj != nil
	}
	require.Equal(t, !valid, rec.Invalid == "not a JSON object", "%q: %q", line, rec.Invalid)
	if !valid || !utf8.Valid(line) || bytes.Contains(line, []byte(`\u`)) {
		return
	}
	if s, ok := obj["email"].(string); ok && len(obj) == 1 && rec.Invalid == "" {
		require.Equal(t, blueshift.Customer{Email: s}.Trimmed().Email, rec.Customer.Email)
	}
	_, err = rr.Next()
	require.ErrorIs(t, err, io.EOF)
}

// FuzzJSONArray checks the array reader against encoding/json: an input
// that starts with '[' yields one record per element and then io.EOF
// exactly when encoding/json reads it as one array, and otherwise ends
// with an error, never io.EOF.
func FuzzJSONArray(f *testing.F) {
	for _, seed := range []string{
		"[]", "[\n {\"email\": \"a@b.c\"},\n {\"email\": 1}\n]\n", "[{\"a\":[1,2,{}]}, 3, \"x\", null]", "[{}", "[{},]", "[{}] x", "[{} {}]", " [\r\n{\"email\":\"\\u00e9\"}]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '[' || bytes.Contains(data, []byte("\r")) {
			return // not an array; a lone CR is read as a line end first
		}
		var elements []json.RawMessage
		valid := json.Valid(data) && json.Unmarshal(data, &elements) == nil
		rr, _, err := NewReader("in.json", bytes.NewReader(data), Options{})
		if err != nil { // UTF-16 without a BOM: never valid JSON
			require.False(t, valid, "%q: %v", data, err)
			return
		}
		n, last := 0, int64(0)
		for {
			rec, err := rr.Next()
			if err != nil {
				if valid {
					require.ErrorIs(t, err, io.EOF, "%q", data)
					require.Equal(t, len(elements), n, "%q", data)
				} else {
					require.NotErrorIs(t, err, io.EOF, "%q", data)
				}
				return
			}
			require.Greater(t, rec.Line, last)
			last = rec.Line
			n++
			if valid && bytes.HasPrefix(bytes.TrimLeft(elements[n-1], " \t\r\n"), []byte("{")) != (rec.Invalid != "not a JSON object") {
				t.Fatalf("%q: element %d: %q", data, n, rec.Invalid)
			}
		}
	})
}
