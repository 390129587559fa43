// Package input reads the bulk input files of the blueshift command: CSV
// (csvparser.go, csvreader.go) and JSON, as NDJSON or one array
// (jsonscanner.go, jsonreader.go), in UTF-8 or UTF-16 (encoding.go), and
// yields one Record per customer, its identifiers matched by one rule
// (columns.go) and kept as the client would send them (fieldkeeper.go).
//
// Why readers of its own, and not encoding/csv and encoding/json: both
// keep a field or member whole in memory (a 300 MB quoted field took
// 1.37 GB through encoding/csv, 8 MB here), and encoding/json replaces
// text that is not UTF-8 with U+FFFD, so that a mis-encoded identifier
// would be sent changed instead of refused. These read a field or member
// of any size in flat memory and keep only identifiers, at most MaxField
// bytes each; everything else follows the standard library, which the
// fuzz targets check: FuzzCSVParser against encoding/csv, FuzzNDJSONLine
// and FuzzJSONArray against encoding/json.
package input

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/blueshift-go/blueshift"
)

// MaxField is how much of an identifier is kept, in bytes. Anything longer
// is invalid anyway (blueshift.MaxIdentifierBytes); the rest is read and
// dropped, so that a field of any size keeps memory flat.
const MaxField = 1024

// Record is one customer read from a bulk input file.
type Record struct {
	Line     int64              // 1-based line of the input where the record starts
	Customer blueshift.Customer // as read and trimmed (each identifier at most MaxField bytes)
	Invalid  string             // why the record cannot be sent; "" if it can
}

// setIdentifier stores an identifier read into slot; a value cut at
// MaxField makes the record invalid, with the library's wording.
func (r *Record) setIdentifier(slot int, value []byte, cut bool) {
	v := string(value)
	switch slot {
	case SlotEmail:
		r.Customer.Email = v
	case SlotCustomerID:
		r.Customer.CustomerID = v
	case SlotCookie:
		r.Customer.Cookie = v
	case SlotDeviceID:
		r.Customer.DeviceID = v
	}
	if cut && r.Invalid == "" {
		r.Invalid = fmt.Sprintf("invalid identifier: %s is longer than %d bytes", SlotNames[slot], blueshift.MaxIdentifierBytes)
	}
}

// validate marks the record invalid exactly as the client would refuse it.
func (r *Record) validate() {
	r.Customer = r.Customer.Trimmed() // as the client sends it
	if r.Invalid != "" {
		return
	}
	for slot, v := range [NumSlots]string{r.Customer.Email, r.Customer.CustomerID, r.Customer.Cookie, r.Customer.DeviceID} {
		if holdsSurrogate(v) {
			r.Invalid = fmt.Sprintf(`invalid identifier: %s holds a UTF-16 surrogate without its pair (such as \ud800): it is not text in any encoding`, SlotNames[slot])
			return
		}
	}
	if err := r.Customer.Validate(); err != nil {
		// The library's message, without its prefix: a results file is
		// not the library speaking.
		r.Invalid = strings.TrimPrefix(err.Error(), "blueshift: ")
	}
}

// holdsSurrogate reports whether v holds the three bytes that would encode
// a UTF-16 surrogate (U+D800 to U+DFFF): what a JSON escape without its
// pair (\ud800) is read as (see jsonScanner.unicodeEscape), or CESU-8.
// Such a value is not UTF-8, yet no other encoding would make it text,
// so it is named for what it is, not blamed on the file's encoding.
func holdsSurrogate(v string) bool {
	for i := 0; i+2 < len(v); i++ {
		if v[i] == 0xed && v[i+1] >= 0xa0 && v[i+1] <= 0xbf && v[i+2] >= 0x80 && v[i+2] <= 0xbf {
			return true
		}
	}
	return false
}

// NotUTF8 reports whether the record was refused for text that is not
// UTF-8: a file saved in another encoding, such as Windows-1252.
func (r *Record) NotUTF8() bool { return strings.Contains(r.Invalid, "not valid UTF-8") }

// Reader yields the records of a bulk input, one at a time, so that
// memory stays flat whatever the size of the file.
type Reader interface {
	// Next returns the next record, or io.EOF after the last one. A record
	// that cannot be sent comes back with Invalid set, not as an error; an
	// error (a syntax error that ends the input, or a read error) ends it.
	Next() (Record, error)
	// Identifiers words where each identifier is read from (see
	// describeColumns).
	Identifiers() string
}

// Options are the flags that shape how input is read.
type Options struct {
	Delimiter byte // 0: detect from the header
	Columns   ColumnRule
}

// Info describes the input as it was understood, for messages.
type Info struct {
	format    string // "csv" or "json"
	encoding  string // "UTF-8", "UTF-16LE" or "UTF-16BE"
	delimiter byte   // CSV only
}

// readBufferSize is the input buffer, and how far the format, encoding,
// line ends and delimiter are looked for.
const readBufferSize = 64 << 10

// NewReader decodes r (see decodeInput) and picks CSV or JSON by the
// file name's extension, or for other names, pipes and stdin by the first
// non-blank character ('{' or '[' means JSON).
func NewReader(name string, r io.Reader, opt Options) (Reader, Info, error) {
	br, info, err := decodeInput(r)
	if err != nil {
		return nil, info, err
	}
	info.format = detectFormat(name, br)
	switch info.format {
	case "":
		return nil, info, errors.New("the input is empty")
	case "json":
		return newJSONReader(br, opt), info, nil
	}
	c, err := newCSVReader(br, opt, &info)
	return c, info, err
}

// detectFormat returns "csv", "json", or "" for an empty input. It reads
// no further than the first non-blank character, so that a pipe that has
// sent only its first line is not waited on.
func detectFormat(name string, br *bufio.Reader) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv":
		return "csv"
	case ".ndjson", ".jsonl", ".json":
		return "json"
	}
	b, err := firstNonBlank(br)
	switch {
	case err != nil:
		return ""
	case b == '{' || b == '[':
		return "json"
	}
	return "csv"
}

// firstNonBlank returns the first byte that is not white space, without
// reading it, looking no further than the buffer.
func firstNonBlank(br *bufio.Reader) (byte, error) {
	for n := 1; n <= readBufferSize; n++ {
		peek, err := br.Peek(n)
		if len(peek) < n {
			if err != nil {
				return 0, err
			}
			continue
		}
		if !isBlank(peek[n-1]) {
			return peek[n-1], nil
		}
	}
	return 0, errors.New("only white space in the first 64 KiB")
}

// isBlank reports whether b is white space between records or values.
func isBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// ParseDelimiter reads --delimiter: "" (detect), "tab", `\t`, or one
// character other than a quote, CR or LF.
func ParseDelimiter(s string) (byte, error) {
	switch s {
	case "":
		return 0, nil
	case "tab", `\t`, "\t":
		return '\t', nil
	}
	if len(s) != 1 || s[0] == '"' || s[0] == '\r' || s[0] == '\n' || s[0] >= utf8.RuneSelf {
		return 0, fmt.Errorf("--delimiter must be one ASCII character other than a quote or newline, or \"tab\"; got %q", s)
	}
	return s[0], nil
}

// DelimiterName names a delimiter in messages.
func DelimiterName(d byte) string {
	if d == '\t' {
		return "tab"
	}
	return fmt.Sprintf("%q", string(d))
}
