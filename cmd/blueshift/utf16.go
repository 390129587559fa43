package main

import (
	"bufio"
	"errors"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Reader decodes UTF-16 (after its BOM) into UTF-8, with the standard
// library's unicode/utf16. An unpaired surrogate or a dangling last byte
// becomes U+FFFD.
type utf16Reader struct {
	r         *bufio.Reader
	bigEndian bool
	pending   []byte // decoded, not yet returned
	err       error
}

func newUTF16Reader(r *bufio.Reader, bigEndian bool) *utf16Reader {
	return &utf16Reader{r: r, bigEndian: bigEndian}
}

// unit reads one UTF-16 code unit.
func (u *utf16Reader) unit() (uint16, error) {
	var b [2]byte
	n, err := io.ReadFull(u.r, b[:])
	switch {
	case n == 1:
		return utf8.RuneError, nil // a dangling byte
	case err != nil:
		return 0, err
	case u.bigEndian:
		return uint16(b[0])<<8 | uint16(b[1]), nil
	}
	return uint16(b[1])<<8 | uint16(b[0]), nil
}

// decodeRune reads one character.
func (u *utf16Reader) decodeRune() (rune, error) {
	c, err := u.unit()
	if err != nil {
		return 0, err
	}
	if !utf16.IsSurrogate(rune(c)) {
		return rune(c), nil
	}
	if c >= 0xdc00 { // a low surrogate first
		return utf8.RuneError, nil
	}
	peek, _ := u.r.Peek(2)
	if len(peek) < 2 {
		return utf8.RuneError, nil
	}
	low := uint16(peek[1])<<8 | uint16(peek[0])
	if u.bigEndian {
		low = uint16(peek[0])<<8 | uint16(peek[1])
	}
	r := utf16.DecodeRune(rune(c), rune(low))
	if r != utf8.RuneError {
		_, _ = u.r.Discard(2)
	}
	return r, nil
}

// Read implements io.Reader. It decodes what is buffered, and reads the
// underlying input only when nothing is, so that a quiet pipe's last line
// is not held back.
func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.pending) < len(p) && u.err == nil {
		if len(u.pending) > 0 && u.r.Buffered() < 2 {
			break
		}
		r, err := u.decodeRune()
		if err != nil {
			u.err = err
			if errors.Is(err, io.ErrUnexpectedEOF) {
				u.err = io.EOF
			}
			break
		}
		u.pending = utf8.AppendRune(u.pending, r)
	}
	n := copy(p, u.pending)
	u.pending = u.pending[n:]
	if n == 0 && u.err != nil {
		return 0, u.err
	}
	return n, nil
}
