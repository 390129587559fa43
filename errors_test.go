package blueshift

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// FuzzDecodeError feeds arbitrary status codes, X-Request-Id headers and
// bodies to the error decoder: it must never panic, and what it produces must be safe
// to put in a one-line error.
func FuzzDecodeError(f *testing.F) {
	for _, seed := range []string{
		`{"message": "Not authorized"}`,
		`{"errors": {"email": ["can't be blank"]}}`,
		`{"errors": {"email": "is invalid"}}`,
		`{"error": "bad_request"}`,
		`{"success": false, "error": "Validation failed"}`,
		`{"status": "404", "error": "Not Found"}`,
		`{"errors": [{"title": "error", "detail": "Error: Resource not found"}], "meta": {}}`,
		`{"errors": ["a", 1, null, {"message": "m"}]}`,
		`{"message": 42}`,
		`{"message": null, "error": {"nested": true}}`,
		`<html><body>502 Bad Gateway</body></html>`,
		`{"message": "trunc`,
		"{\"message\": \"line\\nbreak\\u0000\"}",
		"\xff\xfe{}",
		``,
	} {
		f.Add(503, "req-1", []byte(seed))
	}
	f.Fuzz(func(t *testing.T, status int, rawID string, body []byte) {
		resp := &http.Response{Header: http.Header{"X-Request-Id": {rawID}}}
		e := newAPIError(status, requestID(resp, nil), body, nil)
		msg := e.Error()
		if e.Message == "" && status >= 100 && status < 600 && http.StatusText(status) != "" {
			t.Fatalf("empty message for status %d", status)
		}
		if len(e.Message) > maxMessage {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("invalid UTF-8 in %q", msg)
		}
		if strings.ContainsAny(msg, "\n\r\x00") {
			t.Fatalf("control character in %q", msg)
		}
		if !bytes.Equal(e.Body, body) {
			t.Fatal("Body must keep the raw bytes")
		}
		for name, list := range e.FieldErrors {
			if len(list) == 0 {
				t.Fatalf("field %q with no errors", name)
			}
		}
	})
}

func TestSanitize(t *testing.T) {
	assert.Equal(t, "plain", safeText("plain", nil, 10))
	assert.Equal(t, "a b", safeText("a\nb", nil, 10))
	assert.Equal(t, "zoë", safeText("zoë\xff", nil, 10))
	assert.Equal(t, "abcde", safeText("abcdefgh", nil, 5))
	assert.Equal(t, "zo", safeText("zoë", nil, 3), "cut on a rune boundary")
}
