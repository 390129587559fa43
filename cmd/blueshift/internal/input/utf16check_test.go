package input

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
)

// FuzzUTF16Check checks decodeInput's UTF-16 path against unicode/utf16:
// well-formed UTF-16 decodes to exactly what utf16.Decode gives, in reads
// of any size; anything else fails with ErrBadUTF16, and what was decoded
// before the failure holds no U+FFFD that the input did not hold.
func FuzzUTF16Check(f *testing.F) {
	for _, seed := range []string{"\xff\xfea\x00", "\xff\xfe\x00\xd8a\x00", "\xfe\xff\xd8\x3d\xde\x00", "\xff\xfea\x00b", "\xff\xfe\x00\xdc", "\xfe\xff\x00a\xd8\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || !(data[0] == 0xff && data[1] == 0xfe || data[0] == 0xfe && data[1] == 0xff) {
			return
		}
		order := binary.ByteOrder(binary.LittleEndian)
		if data[0] == 0xfe {
			order = binary.BigEndian
		}
		units := make([]uint16, 0, len(data)/2)
		for i := 2; i+1 < len(data); i += 2 {
			units = append(units, order.Uint16(data[i:]))
		}
		want := string(utf16.Decode(units))
		if strings.Contains(want, "\r") {
			return // decodeInput may read a lone "\r" as "\n"
		}
		wellFormed := len(data)%2 == 0 && strings.Count(want, "\ufffd") == countUnit(units, 0xfffd)
		br, _, err := decodeInput(iotest.OneByteReader(bytes.NewReader(data)))
		require.NoError(t, err)
		got, err := io.ReadAll(br)
		if wellFormed {
			require.NoError(t, err)
			require.Equal(t, want, string(got))
			return
		}
		require.True(t, errors.Is(err, ErrBadUTF16), "%v", err)
		require.LessOrEqual(t, bytes.Count(got, []byte("\ufffd")), countUnit(units, 0xfffd))
		require.True(t, bytes.HasPrefix([]byte(want), got), "what was read comes before the bad unit")
	})
}

func countUnit(units []uint16, u uint16) int {
	n := 0
	for _, v := range units {
		if v == u {
			n++
		}
	}
	return n
}
