package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
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
func newResult(rec input.Record, outcome, message string) result {
	c := rec.Customer
	return result{
		Line: int(rec.Line), Outcome: outcome, Message: storedText(message, maxMessage),
		Email: storedText(c.Email, input.MaxField), CustomerID: storedText(c.CustomerID, input.MaxField),
		Cookie: storedText(c.Cookie, input.MaxField), DeviceID: storedText(c.DeviceID, input.MaxField),
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
func recordIdentity(rec input.Record) uint64 {
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

// errLocked means another run holds a results file's lock.
var errLocked = errors.New("locked")

// resultsFile is a results file held by this run: locked for the run's
// whole life, so that no second run appends to it or resumes from it
// meanwhile.
type resultsFile struct {
	path  string
	f     *os.File
	size  int64 // when it was opened
	fresh bool  // it needs its header: it was created, or found empty
}

// lockedError is what a run says when another run holds its results file.
func lockedError(path string) error {
	return fmt.Errorf("another run holds %s (it is locked): wait for that run to end, or give this one another --results", path)
}

// openExistingResults opens and locks the results file at path, or
// returns nil when there is none yet. An empty file, which a crash before
// the header can leave, counts as a fresh start.
func openExistingResults(path string) (*resultsFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rf := &resultsFile{path: path, f: f}
	info, err := f.Stat()
	switch {
	case err != nil:
	case !info.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file (a results file is one this command writes)", path)
	default:
		err = lockFile(f)
		if errors.Is(err, errLocked) {
			err = lockedError(path)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	rf.size, rf.fresh = info.Size(), info.Size() == 0
	return rf, nil
}

// createResults creates the results file at path, locked. It refuses to
// replace one (which would lose the record of what was done).
func createResults(path string) (*resultsFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("results file %s appeared meanwhile: another run may be using it", path)
	}
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, lockedError(path)
		}
		return nil, err
	}
	return &resultsFile{path: path, f: f, fresh: true}, nil
}

// start readies the file for appending: a fresh file gets its header (a
// file whose header could not be written is left empty, which the next
// run takes as a fresh start), a resumed one loses a torn last line.
func (rf *resultsFile) start(h resultsHeader) (*resultsWriter, error) {
	var err error
	if rf.fresh {
		err = newResultsWriter(&tornGuard{f: rf.f}).write(h)
	} else {
		err = dropTornLine(rf.f)
	}
	if err != nil {
		return nil, err
	}
	off, err := rf.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	return newResultsWriter(&tornGuard{f: rf.f, off: off}), nil
}

// Close closes the file, which releases its lock.
func (rf *resultsFile) Close() error { return rf.f.Close() }

// tornGuard writes to f at the end of what it holds, and cuts a write that
// fails (a full disk, a file size limit) back off, so that the file never
// holds a torn line the summary did not count.
type tornGuard struct {
	f   *os.File
	off int64
}

func (g *tornGuard) Write(p []byte) (int, error) {
	n, err := g.f.Write(p)
	if err != nil {
		if g.f.Truncate(g.off) == nil {
			_, _ = g.f.Seek(g.off, io.SeekStart)
		}
		return 0, err
	}
	g.off += int64(n)
	return n, nil
}
