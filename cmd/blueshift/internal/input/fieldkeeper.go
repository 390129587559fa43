package input

import (
	"unicode"
	"unicode/utf8"
)

// fieldKeeper keeps what an identifier field can hold, as its bytes
// stream in: leading white space and zero-width characters are dropped
// (as blueshift.Customer.Trimmed drops them), then at most MaxField bytes
// are kept. Past that, only trimmable characters may follow; anything else
// marks the field cut, since trimmed it is longer than
// blueshift.MaxIdentifierBytes. So a field of any size costs at most
// MaxField bytes, and is refused exactly when the client would refuse it.
type fieldKeeper struct {
	buf     []byte
	pend    [utf8.UTFMax]byte // a rune being decoded, before or after buf
	npend   int
	started bool // a character that is not trimmed was kept
	tail    bool // buf is full: only trimmable characters may follow
	cut     bool // a character that is not trimmed came past MaxField
}

// reset empties the keeper for the next field.
func (k *fieldKeeper) reset() {
	k.buf, k.npend, k.started, k.tail, k.cut = k.buf[:0], 0, false, false, false
}

// add takes the next byte of the field.
func (k *fieldKeeper) add(b byte) {
	switch {
	case k == nil || k.cut:
	case k.started && !k.tail && len(k.buf) < MaxField:
		k.buf = append(k.buf, b)
	default:
		if k.started && !k.tail {
			k.startTail()
		}
		k.pend[k.npend] = b
		k.npend++
		if utf8.FullRune(k.pend[:k.npend]) {
			k.flush()
		}
	}
}

// addBytes takes the next bytes of the field.
func (k *fieldKeeper) addBytes(p []byte) {
	if k == nil || k.cut {
		return
	}
	if k.started && !k.tail {
		room := min(MaxField-len(k.buf), len(p))
		k.buf, p = append(k.buf, p[:room]...), p[room:]
	}
	for _, b := range p {
		k.add(b)
	}
}

// startTail ends buf: a rune that buf's last bytes begin is moved back to
// pend, to be decoded whole.
func (k *fieldKeeper) startTail() {
	k.tail = true
	for i := len(k.buf) - 1; i >= 0 && i >= len(k.buf)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(k.buf[i]) {
			if !utf8.FullRune(k.buf[i:]) {
				k.npend = copy(k.pend[:], k.buf[i:])
				k.buf = k.buf[:i]
			}
			return
		}
	}
}

// flush decodes the pending rune: dropped while trimmable at either end,
// kept at the start of the field, or marking the field cut after buf.
func (k *fieldKeeper) flush() {
	pend := k.pend
	n := k.npend
	k.npend = 0
	r, size := utf8.DecodeRune(pend[:n])
	switch {
	case trimmable(r):

	case !k.started:
		k.started = true
		k.buf = append(k.buf, pend[:size]...)
	default:
		k.cut = true
		return
	}
	for _, b := range pend[size:n] { // bytes after an invalid one
		k.add(b)
	}
}

// finish ends the field: a rune left incomplete counts as a character.
func (k *fieldKeeper) finish() {
	switch {
	case k == nil || k.npend == 0 || k.cut:
	case !k.started:
		k.started = true
		k.buf = append(k.buf, k.pend[:k.npend]...)
	default:
		k.cut = true
	}
	if k != nil {
		k.npend = 0
	}
}

// trimmable reports whether blueshift.Customer.Trimmed drops r at either
// end of an identifier.
func trimmable(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' }
