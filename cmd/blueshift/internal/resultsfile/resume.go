package resultsfile

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"

	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
)

// resumeEntry is what an earlier run recorded last for one input line:
// the identity of its record (see identity), less its top two bits, and
// in those two bits the index of its outcome in outcomes.
type resumeEntry struct {
	line int64
	key  uint64
}

// outcomes are the outcomes a resumeEntry can hold.
var outcomes = [4]string{OutcomeOK, OutcomeFailed, OutcomeInvalid, OutcomeSkipped}

func newResumeEntry(line int64, id uint64, outcome string) resumeEntry {
	return resumeEntry{line: line, key: id<<2 | uint64(outcomeIndex(outcome))}
}

// sameRecord reports whether the entry was recorded for a record with
// identity id.
func (e resumeEntry) sameRecord(id uint64) bool { return e.key>>2 == id<<2>>2 }

// outcome returns the entry's outcome.
func (e resumeEntry) outcome() string { return outcomes[e.key&3] }

// Index holds the last entry of each line of a results file, sorted
// by line: 16 bytes per record, however long the lines.
type Index struct {
	entries []resumeEntry
}

// maxResultLine bounds one line of a results file read for --resume; a
// longer line (never written by this command) is ignored.
const maxResultLine = 64 << 10

// ErrNoHeader means a results file does not start with a header line.
var ErrNoHeader = errors.New("it does not start with a results header line: it was written by an older version or by something else")

// Read reads a results file for --resume: its header, and the last
// entry of each line. Only complete (newline-terminated) lines count: a torn
// last line, from a crash, is ignored. Lines that are not results are
// skipped. The header must end within maxResultLine bytes, and the read
// stops with ctx's error as soon as ctx ends.
func Read(ctx context.Context, r io.Reader) (Header, *Index, error) {
	br := bufio.NewReaderSize(ctxReader{ctx, r}, maxResultLine+1)
	var header Header
	first, err := br.ReadSlice('\n')
	switch {
	case ctx.Err() != nil:
		return header, nil, ctx.Err()
	case err == nil && parseHeader(bytes.TrimSuffix(first, []byte("\n")), &header):
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull):
		return header, nil, ErrNoHeader
	default:
		return header, nil, err
	}
	lines := lineReader{r: br, max: maxResultLine}
	ix := &Index{}
	for {
		text, tooLong, terminated, err := lines.next()
		if errors.Is(err, io.EOF) || (err == nil && !terminated) {
			break
		}
		if err != nil {
			return header, nil, err
		}
		var res Result
		if tooLong || json.Unmarshal(text, &res) != nil || res.Line <= 0 || res.Outcome == "" {
			continue
		}
		ix.entries = append(ix.entries, newResumeEntry(int64(res.Line), identity(res.Email, res.CustomerID, res.Cookie, res.DeviceID), res.Outcome))
	}
	ix.compact()
	return header, ix, nil
}

// ctxReader reads from r until ctx ends, then fails with ctx's error.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// parseHeader reads a header line: a JSON object with a "command" and no
// "line" member.
func parseHeader(text []byte, h *Header) bool {
	var members map[string]json.RawMessage
	if json.Unmarshal(text, &members) != nil {
		return false
	}
	if _, isRecord := members["line"]; isRecord {
		return false
	}
	return json.Unmarshal(text, h) == nil && h.Command != ""
}

// outcomeIndex returns the index of an outcome in outcomes; an unknown
// one counts as failed, so that its record is sent again.
func outcomeIndex(s string) int {
	for i, o := range outcomes {
		if s == o {
			return i
		}
	}
	return 1
}

// compact sorts the entries by line, keeping the last entry of each line
// (a later run's entry wins).
func (ix *Index) compact() {
	slices.SortStableFunc(ix.entries, func(a, b resumeEntry) int { return cmp.Compare(a.line, b.line) })
	out := ix.entries[:0]
	for i, e := range ix.entries {
		if i+1 < len(ix.entries) && ix.entries[i+1].line == e.line {
			continue
		}
		out = append(out, e)
	}
	ix.entries = out
}

// Cursor looks up lines in increasing order, as the input yields them.
type Cursor struct {
	ix  *Index
	pos int
}

func (ix *Index) cursor() *Cursor { return &Cursor{ix: ix} }

// Lookup returns what an earlier run recorded last for rec, if it was for
// the same customer; outcome "" otherwise.
func (c *Cursor) Lookup(rec input.Record) string {
	if c == nil {
		return ""
	}
	e := c.ix.entries
	for c.pos < len(e) && e[c.pos].line < rec.Line {
		c.pos++
	}
	if c.pos < len(e) && e[c.pos].line == rec.Line && e[c.pos].sameRecord(recordIdentity(rec)) {
		return e[c.pos].outcome()
	}
	return ""
}

// CursorOrNil returns a cursor over ix, or nil when not resuming.
func (ix *Index) CursorOrNil() *Cursor {
	if ix == nil {
		return nil
	}
	return ix.cursor()
}

// Skip returns why rec is not sent again: outcomeOK when an earlier run
// had it ok, outcomeInvalid when an earlier run recorded it invalid and it
// still is (it is not recorded again); "" when it goes on.
func (c *Cursor) Skip(rec input.Record) string {
	switch earlier := c.Lookup(rec); {
	case earlier == OutcomeOK:
		return OutcomeOK
	case earlier == OutcomeInvalid && rec.Invalid != "":
		return OutcomeInvalid
	}
	return ""
}
