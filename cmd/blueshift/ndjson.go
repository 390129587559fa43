package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ndjsonReader yields the records of an NDJSON input: one JSON object per
// line, blank lines skipped. It streams each line (see jsonScanner): only
// identifier members are kept, at most maxField bytes each, and every other
// member's value is checked and dropped, so that a member of any size costs
// no memory and never makes a record invalid.
type ndjsonReader struct {
	s       jsonScanner
	line    int64
	members map[string]int // member name → identifier slot, from --…-column
	name    nameBuffer
	fields  [numSlots]fieldKeeper
}

func newNDJSONReader(br *bufio.Reader, opt inputOptions) *ndjsonReader {
	n := &ndjsonReader{s: jsonScanner{r: br}, members: map[string]int{}}
	for slot, name := range opt.columns {
		if name != "" {
			n.members[name] = slot
		}
	}
	return n
}

// slotOf returns the identifier a member holds: the one named by a
// --…-column flag, else the one whose normalised name is an alias.
func (n *ndjsonReader) slotOf(member string, named bool) (int, bool) {
	if slot, ok := n.members[member]; ok {
		return slot, true
	}
	slot, ok := slotAliases[normalizeColumn(member)]
	if !ok || named {
		return 0, false
	}
	return slot, true
}

// Next returns the next record.
func (n *ndjsonReader) Next() (record, error) {
	for {
		n.s.skipSpace()
		b, err := n.s.peek()
		if err != nil {
			return record{}, err // io.EOF after the last line
		}
		n.line++
		if b == '\n' {
			_, _ = n.s.r.ReadByte()
			continue // blank lines are allowed
		}
		rec, err := n.parse()
		if errors.Is(err, errNotJSON) {
			rec = record{Invalid: "not a JSON object"}
			err = n.s.skipLine()
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return record{}, err
		}
		rec.Line = n.line
		rec.validate()
		return rec, nil
	}
}

// parse reads one line's JSON object and its identifiers: strings, or
// integers kept as their exact decimal text. A member that names an
// identifier already given makes the record invalid.
func (n *ndjsonReader) parse() (record, error) {
	var rec record
	var seen [numSlots]string
	var given [numSlots]bool
	err := n.s.object(func() error {
		if err := n.s.str(n.name.reset()); err != nil {
			return err
		}
		member := string(n.name.b)
		slot, ok := n.slotOf(member, n.named(member))
		if err := n.s.colon(); err != nil {
			return err
		}
		switch {
		case !ok || n.name.long:
			return n.s.skipValue(0)
		case seen[slot] != "" || given[slot]:
			if rec.Invalid == "" {
				rec.Invalid = fmt.Sprintf("two members hold the %s: %q and %q", slotNames[slot], seen[slot], member)
			}
			return n.s.skipValue(0)
		}
		seen[slot], given[slot] = member, true
		f := &n.fields[slot]
		present, problem, err := n.s.identifier(f)
		if problem != "" && rec.Invalid == "" {
			rec.Invalid = fmt.Sprintf("%s %s", slotNames[slot], problem)
		}
		if present && problem == "" {
			rec.setIdentifier(slot, f.buf, f.cut)
		}
		return err
	})
	if err == nil {
		err = n.s.endOfLine()
	}
	return rec, err
}

// named reports whether some --…-column flag names a member for the slot
// that member would otherwise map to by its name.
func (n *ndjsonReader) named(member string) bool {
	slot, ok := slotAliases[normalizeColumn(member)]
	if !ok {
		return false
	}
	for _, s := range n.members {
		if s == slot {
			return true
		}
	}
	return false
}

// nameBuffer keeps a member name, up to maxMemberName bytes: longer names
// name no identifier.
type nameBuffer struct {
	b    []byte
	long bool
}

const maxMemberName = 256

func (nb *nameBuffer) reset() *nameBuffer {
	nb.b, nb.long = nb.b[:0], false
	return nb
}

func (nb *nameBuffer) add(b byte) {
	if len(nb.b) < maxMemberName {
		nb.b = append(nb.b, b)
	} else {
		nb.long = true
	}
}
