// Package resultsfile is the results file of a bulk run of the blueshift
// command: one NDJSON line per record outcome after a header line that
// binds the file to its run (file.go); an exclusive OS lock that one run
// holds for its whole life (lock_unix.go, lock_windows.go), so that no two
// runs write it at once; and the index --resume reads back, 16 bytes per
// record however long the file (resume.go).
package resultsfile

import (
	"bytes"
	"context"
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
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeInvalid = "invalid"
	OutcomeSkipped = "skipped"
)

// Version is the version of the results file's layout.
const Version = 1

// Header is the first line of a results file: the run it belongs to.
// It has no "line" member, which every record line has.
type Header struct {
	Version int    `json:"version"`
	Command string `json:"command"`
	BaseURL string `json:"base_url"`
}

// Result is one record line of the results file.
type Result struct {
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

// MaxMessage bounds the message kept in a result line.
const MaxMessage = 1024

// NewResult is a record's result line, with its identifiers as they are
// stored (see StoredText).
func NewResult(rec input.Record, outcome, message string) Result {
	c := rec.Customer
	return Result{
		Line: int(rec.Line), Outcome: outcome, Message: StoredText(message, MaxMessage),
		Email: StoredText(c.Email, input.MaxField), CustomerID: StoredText(c.CustomerID, input.MaxField),
		Cookie: StoredText(c.Cookie, input.MaxField), DeviceID: StoredText(c.DeviceID, input.MaxField),
	}
}

// StoredText is s as a results file keeps it: at most max bytes, and valid
// UTF-8, so that it reads back exactly as written.
func StoredText(s string, max int) string {
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
	r := NewResult(rec, "", "")
	return identity(r.Email, r.CustomerID, r.Cookie, r.DeviceID)
}

// Writer appends lines to the results file, one write per line, so
// that a crash loses at most the line being written.
type Writer struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

// NewWriter returns a Writer that appends to w.
func NewWriter(w io.Writer) *Writer {
	rw := &Writer{w: w}
	rw.enc = json.NewEncoder(&rw.buf)
	rw.enc.SetEscapeHTML(false)
	return rw
}

// Append writes v as one line.
func (rw *Writer) Append(v any) error {
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
		Start := max(0, end-int64(len(buf)))
		chunk := buf[:end-Start]
		if _, err := f.ReadAt(chunk, Start); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			end = Start + int64(i) + 1
			break
		}
		end = Start
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

// File is a results file held by this run: locked for the run's
// whole life, so that no second run appends to it or resumes from it
// meanwhile.
type File struct {
	path  string
	f     *os.File
	Size  int64 // when it was opened
	Fresh bool  // it needs its header: it was created, or found empty
}

// lockedError is what a run says when another run holds its results file.
func lockedError(path string) error {
	return fmt.Errorf("another run holds %s (it is locked): wait for that run to end, or give this one another --results", path)
}

// OpenExisting opens and locks the results file at path, or
// returns nil when there is none yet. An empty file, which a crash before
// the header can leave, counts as a fresh start.
func OpenExisting(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rf := &File{path: path, f: f}
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
	rf.Size, rf.Fresh = info.Size(), info.Size() == 0
	return rf, nil
}

// Create creates the results file at path, locked. It refuses to
// replace one (which would lose the record of what was done).
func Create(path string) (*File, error) {
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
	return &File{path: path, f: f, Fresh: true}, nil
}

// Start readies the file for appending: a fresh file gets its header (a
// file whose header could not be written is left empty, which the next
// run takes as a fresh start), a resumed one loses a torn last line.
func (rf *File) Start(h Header) (*Writer, error) {
	var err error
	if rf.Fresh {
		if err = NewWriter(&tornGuard{f: rf.f}).Append(h); err != nil {
			_ = rf.f.Truncate(0) // an empty file is a fresh start
		}
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
	return NewWriter(&tornGuard{f: rf.f, off: off}), nil
}

// ReadResume reads the file for --resume, as it was when it was opened
// (see Read).
func (rf *File) ReadResume(ctx context.Context) (Header, *Index, error) {
	return Read(ctx, io.NewSectionReader(rf.f, 0, rf.Size))
}

// Close closes the file, which releases its lock.
func (rf *File) Close() error { return rf.f.Close() }

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
