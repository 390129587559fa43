package input

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// jsonReader yields the records of a JSON input: NDJSON (one object per
// line, blank lines skipped, a line that is not an object an invalid
// record, but a first line that is not one ends the input), or, when the
// first non-blank byte is '[', one array of objects
// (an element that is not an object an invalid record; a syntax error ends
// the input, so that a file that is not an array is refused before a
// regular file's run sends anything). It streams (see jsonScanner): only
// identifier members are kept, at most MaxField bytes each, and every
// other member's value is checked and dropped, so that a member of any
// size costs no memory and never makes a record invalid.
type jsonReader struct {
	s      jsonScanner
	rule   ColumnRule
	name   nameBuffer
	fields [NumSlots]fieldKeeper
	read   int // records yielded
	// array mode
	array, started, done bool
	last                 int64 // line of the last record
}

func newJSONReader(br *bufio.Reader, opt Options) *jsonReader {
	n := &jsonReader{s: jsonScanner{r: br, line: 1}, rule: opt.Columns}
	if b, err := firstNonBlank(br); err == nil && b == '[' {
		n.array, n.s.multiline = true, true
	}
	return n
}

// Identifiers names the members each identifier is read from.
func (n *jsonReader) Identifiers() string {
	return describeColumns(func(slot int) string {
		if names := n.rule.names(slot); len(names) > 0 {
			return "members named like " + quoteNames(names)
		}
		return ""
	})
}

// Next returns the next record.
func (n *jsonReader) Next() (Record, error) {
	if n.array {
		return n.nextElement()
	}
	for {
		n.s.skipSpace()
		b, err := n.s.peek()
		if err != nil {
			return Record{}, err // io.EOF after the last line
		}
		if b == '\n' {
			_, _ = n.s.r.ReadByte()
			n.s.line++
			continue // blank lines are allowed
		}
		rec, err := n.parse()
		if errors.Is(err, errNotJSON) && n.read == 0 {
			return Record{}, errNotNDJSON
		}
		if errors.Is(err, errNotJSON) {
			rec = Record{Invalid: "not a JSON object"}
			err = n.s.skipLine()
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Record{}, err
		}
		rec.Line = n.s.line
		n.s.line++
		n.read++
		rec.validate()
		return rec, nil
	}
}

// errNotNDJSON ends a JSON input whose first line is not one object: a
// pretty-printed object ("jq ." output) or something else that is neither
// NDJSON nor an array. Later lines that are not objects are only invalid
// records; a first one says the file is not what it seems.
var errNotNDJSON = errors.New("not NDJSON: its first line is not one JSON object (pretty-printed JSON? write one object per line, or one JSON array)")

// errNotArray ends an input that starts with '[' but is not a JSON array.
var errNotArray = errors.New("not a valid JSON array")

// nextElement returns the next element of an array input. Its Line is the
// line where it starts, or one more than the element before when they
// share a line, so that lines increase as --resume needs.
func (n *jsonReader) nextElement() (Record, error) {
	s := &n.s
	if n.done {
		return Record{}, io.EOF
	}
	s.skipSpace()
	b, err := s.next()
	switch {
	case err != nil:
		return Record{}, n.arrayError("it ends before its closing ]")
	case !n.started && b != '[':
		return Record{}, n.arrayError("it does not start with [")
	case !n.started:
		n.started = true
		s.skipSpace()
		if c, _ := s.peek(); c == ']' {
			_, _ = s.next()
			return Record{}, n.end()
		}
	case b == ']':
		return Record{}, n.end()
	case b != ',':
		return Record{}, n.arrayError(fmt.Sprintf("%q where a comma or ] belongs", b))
	}
	s.skipSpace()
	line := max(s.line, n.last+1)
	rec, err := n.element()
	if err != nil {
		return Record{}, n.arrayError(fmt.Sprintf("the element that starts on line %d is not valid JSON", s.line))
	}
	n.last, rec.Line = line, line
	rec.validate()
	return rec, nil
}

// element reads one element: an object, or another value (an invalid record).
func (n *jsonReader) element() (Record, error) {
	if b, _ := n.s.peek(); b == '{' {
		return n.parse()
	}
	return Record{Invalid: "not a JSON object"}, n.s.skipValue(0)
}

// end reads what follows the array's closing bracket: white space only.
func (n *jsonReader) end() error {
	n.s.skipSpace()
	if _, err := n.s.peek(); !errors.Is(err, io.EOF) {
		return n.arrayError("something follows its closing ]")
	}
	n.done = true
	return io.EOF
}

func (n *jsonReader) arrayError(why string) error {
	return fmt.Errorf("%w: %s (line %d)", errNotArray, why, n.s.line)
}

// parse reads one object and its identifiers: strings, or integers kept
// as their exact decimal text. A member that names an identifier already
// given makes the record invalid; NDJSON also needs the line to end there.
func (n *jsonReader) parse() (Record, error) {
	var rec Record
	var seen [NumSlots]string
	var given [NumSlots]bool
	err := n.s.object(func() error {
		if err := n.s.str(n.name.reset()); err != nil {
			return err
		}
		member := string(n.name.b)
		slot, ok := n.rule.slotOf(member)
		if err := n.s.colon(); err != nil {
			return err
		}
		switch {
		case !ok || n.name.long:
			return n.s.skipValue(0)
		case given[slot]:
			if rec.Invalid == "" {
				rec.Invalid = fmt.Sprintf("two members hold the %s: %q and %q", SlotNames[slot], seen[slot], member)
			}
			return n.s.skipValue(0)
		}
		seen[slot], given[slot] = member, true
		f := &n.fields[slot]
		present, problem, err := n.s.identifier(f)
		if problem != "" && rec.Invalid == "" {
			rec.Invalid = fmt.Sprintf("%s %s", SlotNames[slot], problem)
		}
		if present && problem == "" {
			rec.setIdentifier(slot, f.buf, f.cut)
		}
		return err
	})
	if err == nil && !n.array {
		err = n.s.endOfLine()
	}
	return rec, err
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
