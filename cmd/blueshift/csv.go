package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvParser reads CSV records with encoding/csv's rules (RFC 4180: quoted
// fields may hold the delimiter, quotes doubled and newlines; \r\n counts
// as \n; blank lines are skipped; a bare or stray quote is an error, a
// *csv.ParseError with the same lines), one byte at a time, keeping at
// most maxField bytes of each of the first cols fields: a field of any
// size, or a row of any width, costs no memory (see fieldKeeper).
type csvParser struct {
	r     *bufio.Reader
	delim byte
	line  int64 // line of the next byte, from 1
	col   int   // byte column of the next byte, from 1
	last  byte  // the last byte read
	// fields of the current record; only the first cols are kept.
	fields []fieldKeeper
	n      int // fields in the current record
	cols   int
	// specials are the bytes plainRun stops at: the delimiter first.
	specials [4]byte
}

func newCSVParser(r *bufio.Reader, delim byte, cols int) *csvParser {
	return &csvParser{r: r, delim: delim, line: 1, col: 1, cols: cols, fields: make([]fieldKeeper, cols), specials: [4]byte{delim, '"', '\r', '\n'}}
}

// next returns the next byte, with "\r\n" read as "\n" and a "\r" just
// before the end dropped, as encoding/csv does.
func (p *csvParser) next() (byte, error) {
	b, err := p.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b == '\r' {
		nb, err := p.r.Peek(1)
		switch {
		case len(nb) == 0 && err == io.EOF:
			return 0, io.EOF
		case len(nb) == 1 && nb[0] == '\n':
			_, _ = p.r.ReadByte()
			b = '\n'
		}
	}
	p.last = b
	p.col++
	if b == '\n' {
		p.line++
		p.col = 1
	}
	return b, nil
}

// peek returns the byte next would return, without reading it.
func (p *csvParser) peek() (byte, error) {
	b, err := p.r.Peek(1)
	if len(b) == 0 {
		return 0, err
	}
	if b[0] != '\r' {
		return b[0], nil
	}
	b, err = p.r.Peek(2)
	switch {
	case len(b) == 2 && b[1] == '\n':
		return '\n', nil
	case len(b) == 2:
		return '\r', nil
	case err == io.EOF:
		return 0, io.EOF
	}
	return 0, err
}

// read reads the next record into p.fields, returning the line it starts
// on, or io.EOF after the last one.
func (p *csvParser) read() (int64, error) {
	for { // skip blank lines
		b, err := p.peek()
		if err != nil {
			return 0, err
		}
		if b != '\n' {
			break
		}
		_, _ = p.next()
	}
	start := p.line
	for p.n = 0; ; p.n++ {
		var f *fieldKeeper
		if p.n < p.cols {
			f = &p.fields[p.n]
			f.reset()
		}
		end, err := p.readField(f, start)
		f.finish()
		if err != nil {
			return start, err
		}
		if end {
			p.n++
			return start, nil
		}
	}
}

// plainRun moves the buffered bytes up to the next one that needs a
// decision (a delimiter, quote, CR or LF) into f in one step: the fast
// path for long fields.
func (p *csvParser) plainRun(f *fieldKeeper, quoted bool) {
	special := p.specials[:]
	if quoted {
		special = special[1:] // the delimiter is data inside quotes
	}
	for n := p.r.Buffered(); n > 0; n = p.r.Buffered() {
		buf, _ := p.r.Peek(n)
		i := bytes.IndexAny(buf, string(special))
		if i < 0 {
			i = len(buf)
		}
		if i == 0 {
			return
		}
		f.addBytes(buf[:i])
		p.col += i
		p.last = buf[i-1]
		_, _ = p.r.Discard(i)
		if i < n {
			return
		}
	}
}

// readField reads one field into f (nil: drop it) and reports whether it
// ended the record.
func (p *csvParser) readField(f *fieldKeeper, start int64) (bool, error) {
	if b, err := p.peek(); err == nil && b == '"' {
		_, _ = p.next()
		return p.readQuoted(f, start)
	}
	for {
		p.plainRun(f, false)
		b, err := p.next()
		switch {
		case err == io.EOF:
			return true, nil
		case err != nil:
			return false, err
		case b == '\n':
			return true, nil
		case b == p.delim:
			return false, nil
		case b == '"':
			return false, &csv.ParseError{StartLine: int(start), Line: int(p.line), Column: p.col - 1, Err: csv.ErrBareQuote}
		}
		f.add(b)
	}
}

// readQuoted reads the rest of a quoted field.
func (p *csvParser) readQuoted(f *fieldKeeper, start int64) (bool, error) {
	for {
		p.plainRun(f, true)
		b, err := p.next()
		if err == io.EOF {
			line, col := p.line, p.col
			if p.last == '\n' {
				line--
			}
			return false, &csv.ParseError{StartLine: int(start), Line: int(line), Column: col, Err: csv.ErrQuote}
		}
		if err != nil {
			return false, err
		}
		if b != '"' {
			f.add(b)
			continue
		}
		switch nb, err := p.peek(); {
		case err == io.EOF:
			return true, nil
		case err != nil:
			return false, err
		case nb == '"':
			_, _ = p.next()
			f.add('"')
		case nb == p.delim:
			_, _ = p.next()
			return false, nil
		case nb == '\n':
			_, _ = p.next()
			return true, nil
		default:
			return false, &csv.ParseError{StartLine: int(start), Line: int(p.line), Column: p.col - 1, Err: csv.ErrQuote}
		}
	}
}

// csvReader yields the records of a CSV input whose header names its
// identifier columns.
type csvReader struct {
	p    *csvParser
	cols [numSlots]int // column of each identifier, -1 when absent
}

// maxColumns is how many header columns are looked at.
const maxColumns = 4096

// newCSVReader reads the header and maps its columns to identifiers.
func newCSVReader(br *bufio.Reader, opt inputOptions, info *inputInfo) (*csvReader, error) {
	info.delimiter = opt.delimiter
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
	cols, err := mapColumns(header, opt.columns)
	if err != nil {
		return nil, fmt.Errorf("%w (columns found: %s; delimiter %s, encoding %s)", err, listColumns(header), delimiterName(info.delimiter), info.encoding)
	}
	width := 0
	for _, c := range cols {
		width = max(width, c+1)
	}
	p.cols, p.fields = width, make([]fieldKeeper, width)
	return &csvReader{p: p, cols: cols}, nil
}

// mapColumns finds the column of each identifier: the one named by the
// flag when given, else the one whose normalised name is an alias.
func mapColumns(header []string, named [numSlots]string) ([numSlots]int, error) {
	cols := [numSlots]int{-1, -1, -1, -1}
	for slot, want := range named {
		if want == "" {
			continue
		}
		for i, h := range header {
			if h == want || (cols[slot] < 0 && normalizeColumn(h) == normalizeColumn(want)) {
				cols[slot] = i
			}
		}
		if cols[slot] < 0 {
			return cols, fmt.Errorf("the CSV header has no column %q (--%s-column)", want, strings.ReplaceAll(slotNames[slot], "_", "-"))
		}
	}
	for i, h := range header {
		slot, ok := slotAliases[normalizeColumn(h)]
		if !ok || named[slot] != "" {
			continue
		}
		if cols[slot] >= 0 {
			return cols, fmt.Errorf("the CSV header has two %s columns, %q and %q: pick one with --%s-column", slotNames[slot], header[cols[slot]], h, strings.ReplaceAll(slotNames[slot], "_", "-"))
		}
		cols[slot] = i
	}
	if cols == [numSlots]int{-1, -1, -1, -1} {
		return cols, errors.New("the CSV header has no email, customer_id, cookie or device_id column (names match ignoring case, spaces, _ and -; or name one with --email-column and the like)")
	}
	return cols, nil
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
func (c *csvReader) Next() (record, error) {
	start, err := c.p.read()
	if err != nil {
		return record{}, err
	}
	rec := record{Line: start}
	for slot, col := range c.cols {
		if col >= 0 && col < c.p.n {
			f := &c.p.fields[col]
			rec.setIdentifier(slot, f.buf, f.cut)
		}
	}
	rec.validate()
	return rec, nil
}

// describeCSVError words a CSV syntax error for the operator.
func describeCSVError(err error) string {
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
