package input

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

var utf8BOM = []byte("\xef\xbb\xbf")

// decodeInput returns r as UTF-8 with "\n" line ends: UTF-8 (its BOM
// dropped) as it is, UTF-16 with a BOM decoded by golang.org/x/text (badly
// formed UTF-16 ends the input with ErrBadUTF16, see utf16Check, and is
// never decoded into U+FFFD), and a file whose lines end in a lone
// "\r" (Excel for Mac's "CSV (Macintosh)") with each "\r" read as "\n".
// UTF-16 without a BOM is refused with the reason: guessing its byte order
// could send garbled identifiers.
func decodeInput(r io.Reader) (*bufio.Reader, Info, error) {
	br := bufio.NewReaderSize(r, readBufferSize)
	info := Info{encoding: "UTF-8"}
	var order unicode.Endianness
	switch b, _ := br.Peek(3); {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		info.encoding, order = "UTF-16LE", unicode.LittleEndian
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		info.encoding, order = "UTF-16BE", unicode.BigEndian
	case bytes.Equal(b, utf8BOM):
		_, _ = br.Discard(len(utf8BOM))
	}
	if info.encoding != "UTF-8" {
		check := &utf16Check{r: br, encoding: info.encoding, bigEnd: order == unicode.BigEndian}
		dec := unicode.UTF16(order, unicode.ExpectBOM).NewDecoder()
		br = bufio.NewReaderSize(transform.NewReader(check, dec), readBufferSize)
	} else if looksUTF16(br) {
		return nil, info, errors.New("the input looks like UTF-16 without a byte order mark (every other byte is zero): save it as UTF-8, or as UTF-16 with a byte order mark")
	}
	if crOnly(br) {
		br = bufio.NewReaderSize(crToLF{br}, readBufferSize)
	}
	return br, info, nil
}

// utf16Window is how far looksUTF16 looks.
const utf16Window = 1 << 10

// looksUTF16 reports whether the input starts like UTF-16 without a BOM:
// zero bytes, at least two, all at even or all at odd positions within
// the first KiB. Text in any script has them: the delimiters, quotes,
// spaces and line ends are ASCII-range code units, one byte of which is
// zero, while UTF-8 text holds no zero byte at all.
func looksUTF16(br *bufio.Reader) bool {
	_, _ = br.Peek(1) // what a pipe has sent, without waiting for more
	b, _ := br.Peek(min(utf16Window, br.Buffered()))
	b = b[:len(b)&^1]
	var zeros [2]int
	for i, c := range b {
		if c == 0 {
			zeros[i&1]++
		}
	}
	return (zeros[0] >= 2 && zeros[1] == 0) || (zeros[1] >= 2 && zeros[0] == 0)
}

// crOnly reports whether the first line end is a lone "\r". It reads no
// further than the byte after that line end, nor past the buffer.
func crOnly(br *bufio.Reader) bool {
	for n := 1; n < readBufferSize; n++ {
		b, _ := br.Peek(n)
		if len(b) < n {
			return false
		}
		switch b[n-1] {
		case '\n':
			return false
		case '\r':
			next, _ := br.Peek(n + 1)
			return len(next) == n+1 && next[n] != '\n'
		}
	}
	return false
}

// crToLF reads "\r" as "\n".
type crToLF struct{ r io.Reader }

func (c crToLF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}
