package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// record is one customer read from a bulk input file.
type record struct {
	Line       int    // 1-based line of the input where the record starts
	Email      string // as read, before trimming
	CustomerID string
	Invalid    string // why the record cannot be sent; "" if it can
}

// recordReader yields the records of a bulk input, one at a time, so that
// memory stays flat whatever the size of the file.
type recordReader interface {
	// Next returns the next record, or io.EOF after the last one. A record
	// that cannot be parsed comes back with Invalid set, not as an error;
	// an error means the input as a whole cannot be read further.
	Next() (record, error)
}

// newRecordReader picks CSV or NDJSON by the file name's extension, or, for
// other names and stdin, by the first non-blank byte ('{' means NDJSON).
func newRecordReader(name string, r io.Reader) (recordReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return newCSVReader(br)
	case ".ndjson", ".jsonl", ".json":
		return newNDJSONReader(br), nil
	}
	for n := 1; ; n++ {
		peek, err := br.Peek(n)
		if len(peek) == n {
			trimmed := bytes.TrimLeft(bytes.TrimPrefix(peek, utf8BOM), " \t\r\n")
			if len(trimmed) > 0 {
				if trimmed[0] == '{' {
					return newNDJSONReader(br), nil
				}
				return newCSVReader(br)
			}
		}
		if err != nil || n >= 64<<10 {
			return nil, errors.New("the input is empty")
		}
	}
}

var utf8BOM = []byte("\xef\xbb\xbf")

type csvReader struct {
	r        *csv.Reader
	emailCol int // -1 when absent
	idCol    int
}

func newCSVReader(br *bufio.Reader) (*csvReader, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1 // tolerate rows with missing or extra columns
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the CSV input is empty: it needs a header row with an email and/or customer_id column")
		}
		return nil, fmt.Errorf("reading the CSV header: %w", err)
	}
	c := &csvReader{r: r, emailCol: -1, idCol: -1}
	for i, name := range header {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "email":
			c.emailCol = i
		case "customer_id":
			c.idCol = i
		}
	}
	if c.emailCol < 0 && c.idCol < 0 {
		return nil, errors.New(`the CSV header has neither an "email" nor a "customer_id" column`)
	}
	return c, nil
}

func (c *csvReader) Next() (record, error) {
	row, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return record{}, io.EOF
	}
	var parseErr *csv.ParseError
	if errors.As(err, &parseErr) {
		return record{Line: parseErr.StartLine, Invalid: "malformed CSV: " + parseErr.Err.Error()}, nil
	}
	if err != nil {
		return record{}, err
	}
	line, _ := c.r.FieldPos(0)
	rec := record{Line: line}
	if c.emailCol >= 0 && c.emailCol < len(row) {
		rec.Email = row[c.emailCol]
	}
	if c.idCol >= 0 && c.idCol < len(row) {
		rec.CustomerID = row[c.idCol]
	}
	return validate(rec), nil
}

type ndjsonReader struct {
	br   *bufio.Reader
	line int
}

func newNDJSONReader(br *bufio.Reader) *ndjsonReader { return &ndjsonReader{br: br} }

// maxLine bounds one NDJSON line; a longer line is invalid, not fatal.
const maxLine = 1 << 20

func (n *ndjsonReader) Next() (record, error) {
	for {
		text, tooLong, err := readLine(n.br)
		if err != nil && len(text) == 0 && !tooLong {
			return record{}, err
		}
		n.line++
		if n.line == 1 {
			text = bytes.TrimPrefix(text, utf8BOM)
		}
		if tooLong {
			return record{Line: n.line, Invalid: "line longer than 1 MiB"}, nil
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue // blank lines are allowed
		}
		var fields struct {
			Email      *string `json:"email"`
			CustomerID *string `json:"customer_id"`
		}
		if err := json.Unmarshal(text, &fields); err != nil {
			return record{Line: n.line, Invalid: "not a JSON object with string email/customer_id"}, nil
		}
		rec := record{Line: n.line}
		if fields.Email != nil {
			rec.Email = *fields.Email
		}
		if fields.CustomerID != nil {
			rec.CustomerID = *fields.CustomerID
		}
		return validate(rec), nil
	}
}

// readLine reads one line without its newline, reporting (and skipping the
// rest of) a line longer than maxLine.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			tooLong = true
		} else {
			buf = append(buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return nil, true, nil
		}
		return bytes.TrimSuffix(buf, []byte("\n")), false, err
	}
}

// validate marks a record without any identifier as invalid.
func validate(rec record) record {
	if strings.TrimSpace(rec.Email) == "" && strings.TrimSpace(rec.CustomerID) == "" {
		rec.Invalid = "no email or customer_id"
	}
	return rec
}

// countLines counts the newline-terminated lines of r (plus a final
// unterminated one), for the progress bar's total.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	count, last := 0, byte('\n')
	for {
		n, err := r.Read(buf)
		count += bytes.Count(buf[:n], []byte{'\n'})
		if n > 0 {
			last = buf[n-1]
		}
		if errors.Is(err, io.EOF) {
			if last != '\n' {
				count++
			}
			return count, nil
		}
		if err != nil {
			return count, err
		}
	}
}
