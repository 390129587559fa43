package input

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// errNotJSON means a line is not one JSON object.
var errNotJSON = errors.New("not a JSON object")

// maxJSONDepth bounds the nesting of a value, as encoding/json does.
const maxJSONDepth = 10000

// byteSink takes the decoded bytes of a JSON string or number.
type byteSink interface{ add(b byte) }

// jsonScanner reads JSON strictly (RFC 8259), a byte at a time, without
// keeping values: a value of any size is checked and dropped, and only
// what a byteSink keeps is kept. For NDJSON a newline is never read as
// part of a value: it ends the line, so that a line that is not JSON ends
// there. In multiline mode (a JSON array) a newline is white space.
type jsonScanner struct {
	r         *bufio.Reader
	multiline bool
	line      int64 // line of the next byte, from 1, in multiline mode
}

// peek returns the next byte without reading it.
func (s *jsonScanner) peek() (byte, error) {
	b, err := s.r.Peek(1)
	if len(b) == 0 {
		return 0, err
	}
	return b[0], nil
}

// next reads the next byte of the line; at the newline, or at the end of
// the input inside a value, it fails with errNotJSON.
func (s *jsonScanner) next() (byte, error) {
	b, err := s.peek()
	switch {
	case errors.Is(err, io.EOF):
		return 0, errNotJSON
	case err != nil:
		return 0, err
	case b == '\n' && !s.multiline:
		return 0, errNotJSON
	}
	_, _ = s.r.ReadByte()
	return b, nil
}

// expect reads the next byte, which must be want.
func (s *jsonScanner) expect(want byte) error {
	b, err := s.next()
	if err == nil && b != want {
		err = errNotJSON
	}
	return err
}

// skipSpace skips white space within the line.
func (s *jsonScanner) skipSpace() {
	for {
		b, err := s.peek()
		switch {
		case err != nil:
			return
		case b == '\n' && s.multiline:
			s.line++
		case b == '\n' || !isBlank(b): // JSON's white space is isBlank's
			return
		}
		_, _ = s.r.ReadByte()
	}
}

// endOfLine reads what follows a value: white space, then the newline or
// the end of the input.
func (s *jsonScanner) endOfLine() error {
	s.skipSpace()
	b, err := s.peek()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	case b != '\n':
		return errNotJSON
	}
	_, _ = s.r.ReadByte()
	return nil
}

// skipLine drops the rest of the line, its newline included.
func (s *jsonScanner) skipLine() error {
	for {
		_, err := s.r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// colon reads the ':' after a member name.
func (s *jsonScanner) colon() error {
	s.skipSpace()
	if err := s.expect(':'); err != nil {
		return err
	}
	s.skipSpace()
	return nil
}

// object reads an object, calling member for each member with the
// scanner at the opening quote of its name read; member reads the name,
// the colon and the value.
func (s *jsonScanner) object(member func() error) error {
	s.skipSpace()
	if err := s.expect('{'); err != nil {
		return err
	}
	return s.items('}', func() error {
		if err := s.expect('"'); err != nil {
			return err
		}
		return member()
	})
}

// items reads the comma-separated items of an object or array whose
// opening bracket was read, up to and including closing, calling item at
// the start of each one (white space skipped).
func (s *jsonScanner) items(closing byte, item func() error) error {
	s.skipSpace()
	if b, _ := s.peek(); b == closing {
		_, _ = s.r.ReadByte()
		return nil
	}
	for {
		s.skipSpace()
		if err := item(); err != nil {
			return err
		}
		s.skipSpace()
		b, err := s.next()
		switch {
		case err != nil:
			return err
		case b == closing:
			return nil
		case b != ',':
			return errNotJSON
		}
	}
}

// identifier reads a value that holds an identifier into f: a string, an
// integer (its text as written), or null (absent). Other values are read
// and reported as a problem.
func (s *jsonScanner) identifier(f *fieldKeeper) (present bool, problem string, err error) {
	b, err := s.peek()
	if err != nil {
		return false, "", errNotJSON
	}
	f.reset()
	switch {
	case b == '"':
		_, _ = s.r.ReadByte()
		err = s.str(f)
		f.finish()
		return true, "", err
	case b == '-' || (b >= '0' && b <= '9'):
		integer, err := s.number(f)
		f.finish()
		if !integer {
			return false, "is a number that is not an integer", err
		}
		return true, "", err
	case b == 'n':
		return false, "", s.literal("null")
	}
	return false, "is not a string or an integer", s.skipValue(0)
}

// skipValue reads any value and drops it.
func (s *jsonScanner) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return errNotJSON
	}
	b, err := s.peek()
	if err != nil {
		return errNotJSON
	}
	switch {
	case b == '"':
		_, _ = s.r.ReadByte()
		return s.str(nil)
	case b == '{':
		return s.object(func() error {
			if err := s.str(nil); err != nil {
				return err
			}
			if err := s.colon(); err != nil {
				return err
			}
			return s.skipValue(depth + 1)
		})
	case b == '[':
		return s.array(depth)
	case b == '-' || (b >= '0' && b <= '9'):
		_, err := s.number(nil)
		return err
	case b == 't':
		return s.literal("true")
	case b == 'f':
		return s.literal("false")
	case b == 'n':
		return s.literal("null")
	}
	return errNotJSON
}

// array reads an array and drops it.
func (s *jsonScanner) array(depth int) error {
	_, _ = s.r.ReadByte()
	return s.items(']', func() error { return s.skipValue(depth + 1) })
}

// literal reads true, false or null.
func (s *jsonScanner) literal(word string) error {
	for i := range len(word) {
		if err := s.expect(word[i]); err != nil {
			return err
		}
	}
	return nil
}

// digits reads one or more digits into sink.
func (s *jsonScanner) digits(sink byteSink) error {
	for n := 0; ; n++ {
		b, err := s.peek()
		if err != nil || b < '0' || b > '9' {
			if n == 0 {
				return errNotJSON
			}
			return nil
		}
		_, _ = s.r.ReadByte()
		add(sink, b)
	}
}

// number reads a number into sink, and reports whether it is an integer
// (no fraction, no exponent).
func (s *jsonScanner) number(sink byteSink) (bool, error) {
	if b, _ := s.peek(); b == '-' {
		_, _ = s.r.ReadByte()
		add(sink, b)
	}
	if b, _ := s.peek(); b == '0' {
		_, _ = s.r.ReadByte()
		add(sink, b)
	} else if err := s.digits(sink); err != nil {
		return false, err
	}
	integer := true
	if b, _ := s.peek(); b == '.' {
		_, _ = s.r.ReadByte()
		integer = false
		if err := s.digits(nil); err != nil {
			return false, err
		}
	}
	if b, _ := s.peek(); b == 'e' || b == 'E' {
		_, _ = s.r.ReadByte()
		integer = false
		if b, _ := s.peek(); b == '+' || b == '-' {
			_, _ = s.r.ReadByte()
		}
		if err := s.digits(nil); err != nil {
			return false, err
		}
	}
	return integer, nil
}

func add(sink byteSink, b byte) {
	if sink != nil {
		sink.add(b)
	}
}

// str reads the rest of a string (its opening quote read) into sink,
// decoding escapes. Bytes that are not UTF-8 are passed on as they are,
// and so is an escaped surrogate without its pair (as the three bytes
// that encode it, which are not UTF-8), for validation to refuse: never
// U+FFFD in their place.
func (s *jsonScanner) str(sink byteSink) error {
	for {
		if sink == nil {
			s.skipPlain()
		}
		b, err := s.next()
		switch {
		case err != nil:
			return err
		case b == '"':
			return nil
		case b < 0x20:
			return errNotJSON
		case b == '\\':
			if err := s.escape(sink); err != nil {
				return err
			}
		default:
			add(sink, b)
		}
	}
}

// skipPlain drops the buffered bytes of a string up to the next quote,
// backslash or control character: the fast path for long values.
func (s *jsonScanner) skipPlain() {
	for n := s.r.Buffered(); n > 0; n = s.r.Buffered() {
		buf, _ := s.r.Peek(n)
		i := 0
		for i < len(buf) && buf[i] != '"' && buf[i] != '\\' && buf[i] >= 0x20 {
			i++
		}
		_, _ = s.r.Discard(i)
		if i < n {
			return
		}
	}
}

// escape reads an escape sequence (its backslash read) into sink.
func (s *jsonScanner) escape(sink byteSink) error {
	b, err := s.next()
	if err != nil {
		return err
	}
	switch b {
	case '"', '\\', '/':
		add(sink, b)
	case 'b', 'f', 'n', 'r', 't':
		add(sink, "\b\f\n\r\t"[strings.IndexByte("bfnrt", b)])
	case 'u':
		return s.unicodeEscape(sink)
	default:
		return errNotJSON
	}
	return nil
}

// unicodeEscape reads the hex digits of \uXXXX, and the low half of a
// surrogate pair when one follows its high half.
func (s *jsonScanner) unicodeEscape(sink byteSink) error {
	r, err := s.hex4()
	if err != nil {
		return err
	}
	if r >= 0xd800 && r < 0xdc00 {
		if next, _ := s.r.Peek(6); len(next) == 6 && next[0] == '\\' && next[1] == 'u' {
			if low, ok := parseHex4(next[2:]); ok && low >= 0xdc00 && low < 0xe000 {
				_, _ = s.r.Discard(6)
				r = 0x10000 + (r-0xd800)<<10 + (low - 0xdc00)
			}
		}
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	if r >= 0xd800 && r < 0xe000 { // unpaired: its own (invalid) encoding
		buf, n = [utf8.UTFMax]byte{0xed, byte(0x80 | (r>>6)&0x3f), byte(0x80 | r&0x3f)}, 3
	}
	for _, b := range buf[:n] {
		add(sink, b)
	}
	return nil
}

// hex4 reads four hex digits.
func (s *jsonScanner) hex4() (rune, error) {
	var digits [4]byte
	for i := range digits {
		b, err := s.next()
		if err != nil {
			return 0, err
		}
		digits[i] = b
	}
	r, ok := parseHex4(digits[:])
	if !ok {
		return 0, errNotJSON
	}
	return r, nil
}

func parseHex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
