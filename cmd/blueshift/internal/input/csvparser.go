package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
)

// csvParser reads CSV records with encoding/csv's rules (RFC 4180: quoted
// fields may hold the delimiter, quotes doubled and newlines; \r\n counts
// as \n; blank lines are skipped; a bare or stray quote is an error, a
// *csv.ParseError with the same lines), one byte at a time, keeping at
// most MaxField bytes of each of the first cols fields: a field of any
// size, or a row of any width, costs no memory (see fieldKeeper).
type csvParser struct {
	r     *bufio.Reader
	delim byte
	line  int64 // line of the next byte, from 1
	col   int   // byte column of the next byte, from 1
	eol   int   // the column after the last "\n", as encoding/csv counts it
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
		p.col, p.eol = 1, p.col
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
			if p.last == '\n' { // encoding/csv names the end of the last line
				line, col = line-1, p.eol
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
