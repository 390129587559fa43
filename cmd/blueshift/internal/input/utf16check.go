package input

import (
	"errors"
	"fmt"
	"io"
)

// ErrBadUTF16 is the read error of a UTF-16 input that is not well formed:
// golang.org/x/text would decode it with U+FFFD in place of what it could
// not read, and an identifier must never be sent changed.
var ErrBadUTF16 = errors.New("not valid UTF-16")

// utf16Check passes UTF-16 through unchanged, and ends it with an error
// (matching ErrBadUTF16) at the first code unit that is badly formed: a
// surrogate without its pair, or an odd byte at the end. What comes
// before that unit is read as usual.
type utf16Check struct {
	r        io.Reader
	encoding string // "UTF-16LE" or "UTF-16BE"
	bigEnd   bool
	offset   int64 // bytes passed on, the BOM included
	odd      []byte
	high     bool  // the last unit passed on was a high surrogate
	highAt   int64 // its offset
	err      error
}

func (c *utf16Check) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	start := c.offset
	for i := 0; i < n; i++ {
		c.odd = append(c.odd, p[i])
		if len(c.odd) < 2 {
			continue
		}
		u := uint16(c.odd[0]) | uint16(c.odd[1])<<8
		if c.bigEnd {
			u = uint16(c.odd[0])<<8 | uint16(c.odd[1])
		}
		c.odd = c.odd[:0]
		at := c.offset + int64(i) - 1
		if bad := c.unit(u, at); bad >= 0 {
			return c.fail("an unpaired surrogate", bad, start)
		}
	}
	c.offset += int64(n)
	if errors.Is(err, io.EOF) {
		switch {
		case c.high:
			return c.fail("an unpaired surrogate", c.highAt, start)
		case len(c.odd) > 0:
			return c.fail("an odd number of bytes", c.offset-1, start)
		}
	}
	return n, err
}

// fail ends the input at the bad unit at offset at: it returns how many
// bytes of the read that started at offset start come before it. A
// decoder holds a unit it has seen only part of, or a high surrogate, and
// never decodes it once the read fails.
func (c *utf16Check) fail(what string, at, start int64) (int, error) {
	c.err = badUTF16(fmt.Sprintf("the input is not valid %s: %s at byte %d (save it as UTF-8, or export it again)", c.encoding, what, at))
	return int(max(0, at-start)), nil
}

// unit checks the code unit at offset at, and returns the offset of the
// first badly formed unit, or -1.
func (c *utf16Check) unit(u uint16, at int64) int64 {
	isHigh, isLow := u >= 0xd800 && u < 0xdc00, u >= 0xdc00 && u < 0xe000
	switch {
	case c.high && !isLow:
		return c.highAt
	case !c.high && isLow:
		return at
	}
	c.high, c.highAt = isHigh, at
	return -1
}

// badUTF16 is ErrBadUTF16 with where and why.
type badUTF16 string

func (e badUTF16) Error() string        { return string(e) }
func (e badUTF16) Is(target error) bool { return target == ErrBadUTF16 }
