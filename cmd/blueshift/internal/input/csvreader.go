package input

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvReader yields the records of a CSV input whose header names its
// identifier columns.
type csvReader struct {
	p      *csvParser
	cols   [NumSlots]int // column of each identifier, -1 when absent
	header []string
}

// maxColumns is how many header columns are looked at.
const maxColumns = 4096

// newCSVReader reads the header and maps its columns to identifiers.
func newCSVReader(br *bufio.Reader, opt Options, info *Info) (*csvReader, error) {
	info.delimiter = opt.Delimiter
	if info.delimiter == 0 {
		info.delimiter = detectDelimiter(br)
	}
	p := newCSVParser(br, info.delimiter, maxColumns)
	if _, err := p.read(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the CSV input is empty: it needs a header row naming an email, customer_id, cookie or device_id column")
		}
		return nil, fmt.Errorf("reading the CSV header: %w", err)
	}
	header := make([]string, min(p.n, maxColumns))
	for i := range header {
		header[i] = string(p.fields[i].buf)
	}
	cols, err := mapColumns(header, opt.Columns)
	if err != nil {
		return nil, fmt.Errorf("%w (columns found: %s; delimiter %s, encoding %s)", err, listColumns(header), DelimiterName(info.delimiter), info.encoding)
	}
	width := 0
	for _, c := range cols {
		width = max(width, c+1)
	}
	p.cols, p.fields = width, make([]fieldKeeper, width)
	return &csvReader{p: p, cols: cols, header: header}, nil
}

// Identifiers names the column of each identifier.
func (c *csvReader) Identifiers() string {
	return describeColumns(func(slot int) string {
		if c.cols[slot] < 0 {
			return ""
		}
		return fmt.Sprintf("column %q", c.header[c.cols[slot]])
	})
}

// mapColumns finds the column of each identifier by ColumnRule's one
// rule. Two columns that hold one identifier are refused: as ambiguous
// when a flag named it, else with the flag that picks one.
func mapColumns(header []string, rule ColumnRule) ([NumSlots]int, error) {
	cols := [NumSlots]int{-1, -1, -1, -1}
	for i, h := range header {
		slot, ok := rule.slotOf(h)
		switch {
		case !ok:
			continue
		case cols[slot] >= 0 && rule.Flags[slot] != "":
			return cols, fmt.Errorf("%s %s is ambiguous: it matches the columns %q and %q (names match ignoring case, spaces, _ and -): rename one of them", SlotFlag(slot), rule.Flags[slot], header[cols[slot]], h)
		case cols[slot] >= 0:
			return cols, twoColumns(slot, header[cols[slot]], h)
		}
		cols[slot] = i
	}
	for slot, want := range rule.Flags {
		if want != "" && !rule.off(slot) && cols[slot] < 0 {
			return cols, fmt.Errorf("the CSV header has no column %q (%s)", want, SlotFlag(slot))
		}
	}
	if cols == [NumSlots]int{-1, -1, -1, -1} {
		return cols, errors.New("the CSV header has no email, customer_id, cookie or device_id column (names match ignoring case, spaces, _ and -; or name one with --email-column and the like)")
	}
	return cols, nil
}

// twoColumns is the error for a header with two columns, a and b, that
// hold one identifier by default, with advice that works: a flag can pick
// one of two names only when they differ by the matching rule.
func twoColumns(slot int, a, b string) error {
	if normalizeColumn(a) == normalizeColumn(b) {
		return fmt.Errorf("the CSV header has two %s columns named alike, %q and %q: rename one of them, or turn the %s off with %s none", SlotNames[slot], a, b, SlotNames[slot], SlotFlag(slot))
	}
	return fmt.Errorf("the CSV header has two %s columns, %q and %q: pick one with %s (%s %q, say), or turn it off with %s none", SlotNames[slot], a, b, SlotFlag(slot), SlotFlag(slot), a, SlotFlag(slot))
}

// listColumns quotes the first columns of a header for a message.
func listColumns(header []string) string {
	const show = 20
	var quoted []string
	for i, h := range header {
		if i == show {
			quoted = append(quoted, fmt.Sprintf("and %d more", len(header)-show))
			break
		}
		if len(h) > 64 {
			h = h[:64] + "…"
		}
		quoted = append(quoted, fmt.Sprintf("%q", h))
	}
	if len(quoted) == 0 {
		return "none"
	}
	return strings.Join(quoted, ", ")
}

// detectDelimiter picks ',', ';' or tab, whichever appears most often
// outside quotes in the first non-blank line (',' when none does). It
// reads no further than that line's end, nor more than the buffer.
func detectDelimiter(br *bufio.Reader) byte {
	counts := map[byte]int{}
	inQuotes, started := false, false
	for n := 1; n <= readBufferSize; n++ {
		peek, _ := br.Peek(n)
		if len(peek) < n {
			break
		}
		b := peek[n-1]
		if (b == '\n' || b == '\r') && !inQuotes {
			if started {
				break // the header line ended
			}
			continue
		}
		started = true
		switch {
		case b == '"':
			inQuotes = !inQuotes
		case (b == ',' || b == ';' || b == '\t') && !inQuotes:
			counts[b]++
		}
	}
	best := byte(',')
	for _, d := range []byte{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

// Next returns the next record.
func (c *csvReader) Next() (Record, error) {
	start, err := c.p.read()
	if err != nil {
		return Record{}, err
	}
	rec := Record{Line: start}
	for slot, col := range c.cols {
		if col >= 0 && col < c.p.n {
			f := &c.p.fields[col]
			rec.setIdentifier(slot, f.buf, f.cut)
		}
	}
	rec.validate()
	return rec, nil
}

// DescribeError words a CSV syntax error for the operator.
func DescribeError(err error) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	what := "an unterminated quoted field, or a quote inside a quoted field that is not doubled"
	if errors.Is(pe.Err, csv.ErrBareQuote) {
		what = `a quote (") inside a field that does not start with one`
	}
	return fmt.Sprintf("CSV syntax error in the record that starts on line %d: %s (found on line %d, column %d)", pe.StartLine, what, pe.Line, pe.Column)
}
