package blueshift

import (
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
)

// goFormats are the formats of the errors that net/http and net/textproto
// return while sending a request and reading a response (HTTP/1.x), as
// their source writes them. Their fixed text is Go's own words; a verb
// (%q, %d, %w) stands for what fills it in, often bytes the server sent,
// which stay subject to redaction. Go 1.23's textproto writes some lines
// unquoted; a final verb matches the rest of the text either way.
var goFormats = []string{
	"net/http: HTTP/1.x transport connection broken: %w",
	"readLoopPeekFailLocked: %w",
	"write error: %w",
	"malformed HTTP response %q",
	"malformed HTTP status code %q",
	"malformed HTTP version %q",
	"bad Content-Length %q",
	"invalid empty Content-Length %q",
	"http: message cannot contain multiple Content-Length headers; got %q",
	"too many transfer encodings: %q",
	"unsupported transfer encoding: %q",
	"invalid Trailer key %q",
	"bad trailer key %q",
	"malformed MIME header initial line: %q",
	"malformed MIME header line: %q",
	"malformed MIME header: missing colon: %q",
	"net/http: server response headers exceeded %d bytes; aborted",
	"read limit of %d bytes exhausted",
	"http: server gave HTTP response to HTTPS client",
	"http: server closed idle connection",
	"net/http: request canceled while waiting for connection",
	"net/http: request canceled",
	"net/http: timeout awaiting response headers",
	"net/http: HTTP/1.x transport connection broken",
	"http: unexpected EOF reading trailer",
	"http: suspiciously long trailer after chunked body",
	"malformed chunked encoding",
	"chunked encoding contains too much non-data",
	"chunked line ends with bare LF",
	"invalid CR in chunked line",
	"empty hex number for chunk length",
	"invalid byte in chunk length",
	"http chunk length too large",
	"header line too long",
	"message too large",
}

// ownSpans returns the spans of s, the cleaned text of err (which ended a
// call to rawURL), that Go or the client wrote, found from err's chain
// rather than by searching s, so that the same words sent by a server stay
// subject to redaction: the fixed text of each error in the chain whose
// text is one of goFormats, and the prefix that a *url.Error for rawURL, a
// *net.OpError or an *os.SyscallError puts before the error it wraps
// (operation, network, addresses, system call). Each error's text is
// located as a suffix of s, as every wrapper in net/http's chains writes
// it; an error found elsewhere protects nothing.
func ownSpans(err error, s, rawURL string) [][2]int {
	var spans [][2]int
	walkChain(err, func(err error) {
		if t := clean(err.Error()); strings.HasSuffix(s, t) {
			at := len(s) - len(t)
			spans = append(spans, wrapperSpan(err, t, at, rawURL)...)
			for _, format := range goFormats {
				if fixed := matchFormat(t, format); fixed != nil {
					for _, sp := range fixed {
						spans = append(spans, [2]int{at + sp[0], at + sp[1]})
					}
					break
				}
			}
		}
	})
	return spans
}

// wrapperSpan returns the span of the prefix that err, whose cleaned text
// t starts at s[at], writes before the error it wraps, if err is one of the
// wrappers whose prefix is all Go's or the client's own.
func wrapperSpan(err error, t string, at int, rawURL string) [][2]int {
	switch e := err.(type) {
	case *url.Error:
		if e.URL != rawURL {
			return nil
		}
	case *net.OpError, *os.SyscallError:
	default:
		return nil
	}
	inner := errors.Unwrap(err)
	if inner == nil {
		return nil
	}
	if it := clean(inner.Error()); strings.HasSuffix(t, it) {
		return [][2]int{{at, at + len(t) - len(it)}}
	}
	return nil
}

// matchFormat returns the spans of t that format's fixed text fills, if t
// is a text that format writes, and nil otherwise. Each verb (%q, %d, %w,
// ...) matches any text, as short as possible except at the end.
func matchFormat(t, format string) [][2]int {
	fixed := splitFormat(format)
	if !strings.HasPrefix(t, fixed[0]) || (len(fixed) == 1 && t != fixed[0]) {
		return nil
	}
	spans := [][2]int{{0, len(fixed[0])}}
	pos := len(fixed[0])
	for i, f := range fixed[1:] {
		switch {
		case f == "":
			continue // a verb at the end takes the rest
		case i == len(fixed)-2:
			if !strings.HasSuffix(t[pos:], f) {
				return nil
			}
			spans = append(spans, [2]int{len(t) - len(f), len(t)})
		default:
			j := strings.Index(t[pos:], f)
			if j < 0 {
				return nil
			}
			spans = append(spans, [2]int{pos + j, pos + j + len(f)})
			pos += j + len(f)
		}
	}
	return spans
}

// splitFormat returns the fixed texts of format, split at each two-byte
// verb: one more than the number of verbs.
func splitFormat(format string) []string {
	var fixed []string
	for {
		i := strings.IndexByte(format, '%')
		if i < 0 || i+1 >= len(format) {
			return append(fixed, format)
		}
		fixed = append(fixed, format[:i])
		format = format[i+2:]
	}
}
