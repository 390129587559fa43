package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// Outcomes of a record in the results file.
const (
	outcomeOK      = "ok"
	outcomeFailed  = "failed"
	outcomeInvalid = "invalid"
	outcomeSkipped = "skipped"
)

// resultsVersion is the version of the results file's layout.
const resultsVersion = 1

// resultsHeader is the first line of a results file: the run it belongs to.
// It has no "line" member, which every record line has.
type resultsHeader struct {
	Version int    `json:"version"`
	Command string `json:"command"`
	BaseURL string `json:"base_url"`
}

// result is one record line of the results file.
type result struct {
	Line       int    `json:"line"`
	Email      string `json:"email"`
	CustomerID string `json:"customer_id"`
	Cookie     string `json:"cookie"`
	DeviceID   string `json:"device_id"`
	Outcome    string `json:"outcome"`
	Status     int    `json:"status"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id"`
	Attempts   int    `json:"attempts"`
}

// maxMessage bounds the message kept in a result line.
const maxMessage = 1024

// newResult is a record's result line, with its identifiers as they are
// stored (see storedText).
func newResult(rec record, outcome, message string) result {
	c := rec.Customer
	return result{
		Line: int(rec.Line), Outcome: outcome, Message: storedText(message, maxMessage),
		Email: storedText(c.Email, maxField), CustomerID: storedText(c.CustomerID, maxField),
		Cookie: storedText(c.Cookie, maxField), DeviceID: storedText(c.DeviceID, maxField),
	}
}

// storedText is s as a results file keeps it: at most max bytes, and valid
// UTF-8, so that it reads back exactly as written.
func storedText(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\ufffd")
	}
	return s
}

// identity hashes a record's identifiers as stored, so that --resume skips
// a line only if it still holds the same customer.
func identity(email, customerID, cookie, deviceID string) uint64 {
	h := fnv.New64a()
	for _, v := range [...]string{email, customerID, cookie, deviceID} {
		_, _ = io.WriteString(h, v)
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// recordIdentity is identity of a record read from the input.
func recordIdentity(rec record) uint64 {
	r := newResult(rec, "", "")
	return identity(r.Email, r.CustomerID, r.Cookie, r.DeviceID)
}

// resultsWriter appends lines to the results file, one write per line, so
// that a crash loses at most the line being written.
type resultsWriter struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

func newResultsWriter(w io.Writer) *resultsWriter {
	rw := &resultsWriter{w: w}
	rw.enc = json.NewEncoder(&rw.buf)
	rw.enc.SetEscapeHTML(false)
	return rw
}

// write writes v as one line.
func (rw *resultsWriter) write(v any) error {
	rw.buf.Reset()
	if err := rw.enc.Encode(v); err != nil {
		return err
	}
	_, err := rw.w.Write(rw.buf.Bytes())
	return err
}

// resumeEntry is what an earlier run recorded last for one input line:
// the identity of its record (see identity), less its top two bits, and
// in those two bits the index of its outcome in outcomes.
type resumeEntry struct {
	line int64
	key  uint64
}

// outcomes are the outcomes a resumeEntry can hold.
var outcomes = [4]string{outcomeOK, outcomeFailed, outcomeInvalid, outcomeSkipped}

func newResumeEntry(line int64, id uint64, outcome string) resumeEntry {
	return resumeEntry{line: line, key: id<<2 | uint64(outcomeIndex(outcome))}
}

// sameRecord reports whether the entry was recorded for a record with
// identity id.
func (e resumeEntry) sameRecord(id uint64) bool { return e.key>>2 == id<<2>>2 }

// outcome returns the entry's outcome.
func (e resumeEntry) outcome() string { return outcomes[e.key&3] }

// resumeIndex holds the last entry of each line of a results file, sorted
// by line: 16 bytes per record, however long the lines.
type resumeIndex struct {
	entries []resumeEntry
}

// maxResultLine bounds one line of a results file read for --resume; a
// longer line (never written by this command) is ignored.
const maxResultLine = 64 << 10

// errNoHeader means a results file does not start with a header line.
var errNoHeader = errors.New("it does not start with a results header line: it was written by an older version or by something else")

// readResults reads a results file for --resume: its header, and the last
// entry of each line. Only complete (newline-terminated) lines count: a torn
// last line, from a crash, is ignored. Lines that are not results are
// skipped. The header must end within maxResultLine bytes, and the read
// stops with ctx's error as soon as ctx ends.
func readResults(ctx context.Context, r io.Reader) (resultsHeader, *resumeIndex, error) {
	br := bufio.NewReaderSize(ctxReader{ctx, r}, maxResultLine+1)
	var header resultsHeader
	first, err := br.ReadSlice('\n')
	switch {
	case ctx.Err() != nil:
		return header, nil, ctx.Err()
	case err == nil && parseHeader(bytes.TrimSuffix(first, []byte("\n")), &header):
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull):
		return header, nil, errNoHeader
	default:
		return header, nil, err
	}
	lines := lineReader{r: br, max: maxResultLine}
	ix := &resumeIndex{}
	for {
		text, tooLong, terminated, err := lines.next()
		if errors.Is(err, io.EOF) || (err == nil && !terminated) {
			break
		}
		if err != nil {
			return header, nil, err
		}
		var res result
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
func parseHeader(text []byte, h *resultsHeader) bool {
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
func (ix *resumeIndex) compact() {
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

// resumeCursor looks up lines in increasing order, as the input yields them.
type resumeCursor struct {
	ix  *resumeIndex
	pos int
}

func (ix *resumeIndex) cursor() *resumeCursor { return &resumeCursor{ix: ix} }

// lookup returns what an earlier run recorded last for rec, if it was for
// the same customer; outcome "" otherwise.
func (c *resumeCursor) lookup(rec record) string {
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

// openResults creates the results file with its header, refusing to
// overwrite one (which would lose the record of what was done); with
// resume it opens the existing one for appending, after dropping a torn
// last line, or creates it if there is none.
func openResults(path string, resume bool, h resultsHeader) (*os.File, error) {
	if resume {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil {
			if err := dropTornLine(f); err != nil {
				f.Close()
				return nil, err
			}
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("results file %s exists: pass --resume to continue that run, or remove the file", path)
	}
	if err != nil {
		return nil, err
	}
	if err := newResultsWriter(f).write(h); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// dropTornLine truncates f after its last newline, dropping a line a crash
// left half-written, and leaves the offset at the end for appending.
func dropTornLine(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	end := info.Size()
	buf := make([]byte, 64<<10)
	for end > 0 {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		end = start
	}
	if end < info.Size() {
		if err := f.Truncate(end); err != nil {
			return err
		}
	}
	_, err = f.Seek(end, io.SeekStart)
	return err
}
