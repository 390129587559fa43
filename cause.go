package blueshift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
)

// redactedError is RequestError.Err: the error that ended a call, which
// prints as its text with the call's identifiers and key redacted (in
// every form, see redact) from what came from outside, while errors.Is and
// errors.As still reach the original (io.EOF, *net.OpError, *url.Error,
// context.DeadlineExceeded, ...) through Unwrap. The original is sealed, so
// that printers that walk fields (%#v, spew, testify's diffs) cannot print
// it; a value the caller extracts with errors.As is the standard library's
// own and prints what it holds.
type redactedError struct {
	text  string
	cause sealed[error]
}

// redactedCause wraps err, which ended a call to rawURL, for RequestError.Err.
func redactedCause(err error, secrets []string, rawURL string) error {
	if err == nil {
		return nil
	}
	return &redactedError{text: redactCause(err, secrets, rawURL), cause: seal(err)}
}

// Error returns the redacted text.
func (e *redactedError) Error() string { return e.text }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.cause.open() }

// Format prints the redacted text for every verb.
func (e *redactedError) Format(f fmt.State, verb rune) { formatError(f, verb, e.text) }

// formatError prints text, an error's redacted Error(), for every verb:
// %s, %q, %x and %X as they print a string, any other verb (%v, %+v, %#v,
// ...) as it is. No verb reaches the error's fields.
func formatError(f fmt.State, verb rune, text string) {
	switch verb {
	case 's', 'q', 'x', 'X':
		fmt.Fprintf(f, fmt.FormatString(f, verb), text)
	default:
		_, _ = io.WriteString(f, text)
	}
}

// redactCause returns the text of err, which ended a call to rawURL,
// cleaned to one line, with the secrets redacted from what came from
// outside and the client's and Go's own words (see ownWords and ownSpans)
// left as they are.
func redactCause(err error, secrets []string, rawURL string) string {
	s := clean(err.Error())
	return redactExcept(s, secrets, append(wordSpans(s, ownWords(err, rawURL)), ownSpans(err, s, rawURL)...))
}

// ownPhrases are texts this package writes into the errors that end a
// call.
var ownPhrases = []string{
	http.MethodPost,
	"the next retry would start after the context deadline",
	"waiting for the rate limit would pass the deadline",
	"waiting for the adaptive rate would pass the deadline", // adaptiveRate.wait, ratecontrol.go
	budgetExhaustedText,
}

// ownWords returns the parts of err's text that the client or Go itself
// wrote: the URL called, the method, the operation, network and addresses
// of a *net.OpError, the host of a *net.DNSError, the text of a system
// error number, of an attempt timeout and of the context and io sentinels,
// and the package's own phrases.
func ownWords(err error, rawURL string) []string {
	words := append([]string{rawURL, strconv.Quote(rawURL)}, ownPhrases...)
	walkChain(err, func(err error) {
		switch e := err.(type) {
		case *url.Error:
			words = append(words, e.Op, e.URL)
		case *net.OpError:
			words = append(words, e.Op, e.Net)
			if e.Source != nil {
				words = append(words, e.Source.String())
			}
			if e.Addr != nil {
				words = append(words, e.Addr.String())
			}
		case *net.DNSError:
			words = append(words, e.Name, e.Server)
		case *os.SyscallError:
			words = append(words, e.Syscall)
		case syscall.Errno, *attemptTimeoutError:
			words = append(words, e.Error())
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			words = append(words, os.ErrDeadlineExceeded.Error())
		}
		switch err {
		case context.Canceled, context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, errForeignHost:
			words = append(words, err.Error())
		}
	})
	return words
}

// walkChain calls visit for err and every error it wraps, depth first, to
// a depth of 32.
func walkChain(err error, visit func(error)) {
	var walk func(error, int)
	walk = func(err error, depth int) {
		if err == nil || depth > 32 {
			return
		}
		visit(err)
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner, depth+1)
			}
		}
	}
	walk(err, 0)
}
