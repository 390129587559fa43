package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
)

// maxNDJSONLine bounds one NDJSON line; a longer line is an invalid
// record, not the end of the run.
const maxNDJSONLine = 1 << 20

// ndjsonReader yields the records of an NDJSON input: one JSON object per
// line, blank lines skipped.
type ndjsonReader struct {
	lines   lineReader
	line    int64
	members map[string]int // member name → identifier slot
}

func newNDJSONReader(br *bufio.Reader, opt inputOptions) *ndjsonReader {
	n := &ndjsonReader{lines: lineReader{r: br, max: maxNDJSONLine}, members: map[string]int{}}
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
		text, tooLong, _, err := n.lines.next()
		if err != nil {
			return record{}, err
		}
		n.line++
		if tooLong {
			return record{Line: n.line, Invalid: fmt.Sprintf("line longer than %d bytes", maxNDJSONLine)}, nil
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue // blank lines are allowed
		}
		rec := n.parse(text)
		rec.Line = n.line
		rec.validate()
		return rec, nil
	}
}

// parse reads one JSON object's identifiers: strings, or integers kept as
// their exact decimal text.
func (n *ndjsonReader) parse(text []byte) record {
	var rec record
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil || obj == nil {
		rec.Invalid = "not a JSON object"
		return rec
	}
	var seen [numSlots]string
	for member, raw := range obj {
		slot, ok := n.slotOf(member, n.named(member))
		if !ok {
			continue
		}
		if seen[slot] != "" {
			rec.Invalid = fmt.Sprintf("two members hold the %s: %q and %q", slotNames[slot], seen[slot], member)
			return rec
		}
		seen[slot] = member
		value, problem := jsonIdentifier(raw)
		if problem != "" {
			rec.Invalid = fmt.Sprintf("%s %s", slotNames[slot], problem)
			return rec
		}
		cut := len(value) > maxField
		if cut {
			value = value[:maxField]
		}
		rec.setIdentifier(slot, value, cut)
	}
	return rec
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

// jsonIdentifier returns an identifier's text: a JSON string's value, or an
// integer's digits exactly as written; null is absent. Anything else is a
// problem.
func jsonIdentifier(raw json.RawMessage) ([]byte, string) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, ""
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "is not a valid JSON string"
		}
		return []byte(s), ""
	case isJSONInteger(raw):
		return raw, ""
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return nil, "is a number that is not an integer"
	}
	return nil, "is not a string or an integer"
}

// isJSONInteger reports whether raw is a JSON number without a fraction or
// exponent.
func isJSONInteger(raw []byte) bool {
	digits := bytes.TrimPrefix(raw, []byte("-"))
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}
