package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/blueshift-go/blueshift"
)

// The identifiers of a record, in the order of blueshift.Customer.
const (
	slotEmail = iota
	slotCustomerID
	slotCookie
	slotDeviceID
	numSlots
)

// slotNames are the identifiers' JSON names.
var slotNames = [numSlots]string{"email", "customer_id", "cookie", "device_id"}

// slotAliases maps a normalised column name (see normalizeColumn) to the
// identifier it holds.
var slotAliases = map[string]int{
	"email": slotEmail, "emailaddress": slotEmail,
	"customerid": slotCustomerID,
	"cookie":     slotCookie,
	"deviceid":   slotDeviceID,
}

// normalizeColumn lower-cases a column name and drops white space, '_' and
// '-', so that "Email Address", "e-mail" and "EMAIL_ADDRESS" compare equal.
func normalizeColumn(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r == '_' || r == '-' || r == '\ufeff' || r == '\u200b':
		case r == ' ' || r == '\t' || r == '\u00a0':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxField is how much of an identifier is kept, in bytes. Anything longer
// is invalid anyway (blueshift.MaxIdentifierBytes); the rest is read and
// dropped, so that a field of any size keeps memory flat.
const maxField = 1024

// record is one customer read from a bulk input file.
type record struct {
	Line     int64              // 1-based line of the input where the record starts
	Customer blueshift.Customer // as read and trimmed (each identifier at most maxField bytes)
	Invalid  string             // why the record cannot be sent; "" if it can
}

// setIdentifier stores an identifier read into slot; a value cut at
// maxField makes the record invalid, with the library's wording.
func (r *record) setIdentifier(slot int, value []byte, cut bool) {
	v := string(value)
	switch slot {
	case slotEmail:
		r.Customer.Email = v
	case slotCustomerID:
		r.Customer.CustomerID = v
	case slotCookie:
		r.Customer.Cookie = v
	case slotDeviceID:
		r.Customer.DeviceID = v
	}
	if cut && r.Invalid == "" {
		r.Invalid = fmt.Sprintf("invalid identifier: %s is longer than %d bytes", slotNames[slot], blueshift.MaxIdentifierBytes)
	}
}

// validate marks the record invalid exactly as the client would refuse it.
func (r *record) validate() {
	r.Customer = r.Customer.Trimmed() // as the client sends it
	if r.Invalid != "" {
		return
	}
	if err := r.Customer.Validate(); err != nil {
		r.Invalid = errText(err)
	}
}

// recordReader yields the records of a bulk input, one at a time, so that
// memory stays flat whatever the size of the file.
type recordReader interface {
	// Next returns the next record, or io.EOF after the last one. A record
	// that cannot be sent comes back with Invalid set, not as an error; an
	// error (a CSV syntax error, or a read error) ends the input.
	Next() (record, error)
}

// inputOptions are the flags that shape how input is read.
type inputOptions struct {
	delimiter byte // 0: detect from the header
	columns   [numSlots]string
}

// inputInfo describes the input as it was understood, for messages.
type inputInfo struct {
	format    string // "csv" or "ndjson"
	encoding  string // "UTF-8", "UTF-16LE" or "UTF-16BE"
	delimiter byte   // CSV only
}

// readBufferSize is the input buffer, and how far the format, encoding and
// delimiter are looked for.
const readBufferSize = 64 << 10

// newRecordReader decodes r (UTF-8, or UTF-16 with a BOM) and picks CSV or
// NDJSON by the file name's extension, or for other names, pipes and stdin
// by the first non-blank character ('{' means NDJSON).
func newRecordReader(name string, r io.Reader, opt inputOptions) (recordReader, inputInfo, error) {
	br := bufio.NewReaderSize(r, readBufferSize)
	info := inputInfo{encoding: "UTF-8"}
	switch b, _ := br.Peek(3); {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		info.encoding = "UTF-16LE"
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		info.encoding = "UTF-16BE"
	case bytes.Equal(b, utf8BOM):
		_, _ = br.Discard(len(utf8BOM))
	}
	if info.encoding != "UTF-8" {
		_, _ = br.Discard(2)
		br = bufio.NewReaderSize(newUTF16Reader(br, info.encoding == "UTF-16BE"), readBufferSize)
	}
	info.format = detectFormat(name, br)
	if info.format == "" {
		return nil, info, errors.New("the input is empty")
	}
	if info.format == "ndjson" {
		return newNDJSONReader(br, opt), info, nil
	}
	c, err := newCSVReader(br, opt, &info)
	return c, info, err
}

var utf8BOM = []byte("\xef\xbb\xbf")

// detectFormat returns "csv", "ndjson", or "" for an empty input. It reads
// no further than the first non-blank character, so that a pipe that has
// sent only its first line is not waited on.
func detectFormat(name string, br *bufio.Reader) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv":
		return "csv"
	case ".ndjson", ".jsonl", ".json":
		return "ndjson"
	}
	for n := 1; n <= readBufferSize; n++ {
		peek, err := br.Peek(n)
		if len(peek) < n {
			if err != nil {
				return ""
			}
			continue
		}
		switch peek[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return "ndjson"
		}
		return "csv"
	}
	return "csv"
}

// parseDelimiter reads --delimiter: "" (detect), "tab", `\t`, or one
// character other than a quote, CR or LF.
func parseDelimiter(s string) (byte, error) {
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

// delimiterName names a delimiter in messages.
func delimiterName(d byte) string {
	if d == '\t' {
		return "tab"
	}
	return fmt.Sprintf("%q", string(d))
}
