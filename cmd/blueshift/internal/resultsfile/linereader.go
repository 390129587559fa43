package resultsfile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader reads lines of at most max bytes, however long the lines of
// its input: a longer line is read to its end, dropped and reported, so
// that memory stays flat.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// next returns the next line without its "\n" (it stays valid until the
// next call), whether it was longer than max (then line is nil), and
// whether it ended with "\n"; io.EOF after the last line.
func (l *lineReader) next() (line []byte, tooLong, terminated bool, err error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong && len(l.buf)+len(chunk) <= l.max+1 {
			l.buf = append(l.buf, chunk...)
		} else {
			tooLong, l.buf = true, l.buf[:0]
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
			if tooLong {
				return nil, true, true, nil
			}
			return bytes.TrimSuffix(l.buf, []byte("\n")), false, true, nil
		case errors.Is(err, io.EOF) && (len(l.buf) > 0 || tooLong):
			if tooLong {
				return nil, true, false, nil
			}
			return l.buf, false, false, nil
		default:
			return nil, false, false, err
		}
	}
}
