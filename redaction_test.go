package blueshift

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestRedactionHasNoHoles(t *testing.T) {
	long := strings.Repeat("a", 400) + "@example.com"
	for _, tc := range []struct {
		name    string
		secrets []string
		body    string
		want    string // APIError.Error() of a 422
		fields  map[string][]string
	}{
		{"email in another letter case", []string{"Ann@Example.com"}, `{"message":"ann@EXAMPLE.com is not allowed"}`,
			"blueshift: 422 Unprocessable Entity: [redacted] is not allowed", nil},
		{"long email cut at the message limit", []string{long}, `{"message":"` + strings.Repeat("x", 300) + " " + long + ` is not allowed"}`,
			"blueshift: 422 Unprocessable Entity: " + strings.Repeat("x", 300) + " [redacted] is not allowed", nil},
		{"field errors", []string{"ann@example.com", "C-77"}, `{"errors":{"email":["ann@example.com is taken"],"customer_id":["C-77 unknown"]}}`,
			"blueshift: 422 Unprocessable Entity: customer_id [redacted] unknown; email [redacted] is taken",
			map[string][]string{"email": {"[redacted] is taken"}, "customer_id": {"[redacted] unknown"}}},
		{"one-letter id inside words is left alone", []string{"e"}, `{"message":"Rate limit exceeded"}`,
			"blueshift: 422 Unprocessable Entity: Rate limit exceeded", nil},
		{"short id as a whole token", []string{"42"}, `{"message":"customer 42 not found (42)"}`,
			"blueshift: 422 Unprocessable Entity: customer [redacted] not found ([redacted])", nil},
		{"short id inside a longer number stays", []string{"42"}, `{"message":"order 1425 failed"}`,
			"blueshift: 422 Unprocessable Entity: order 1425 failed", nil},
		{"cookie and device id", []string{"", "", "ck-secret", "dev-0042"}, `{"message":"CK-SECRET and dev-0042 clash"}`,
			"blueshift: 422 Unprocessable Entity: [redacted] and [redacted] clash", nil},
		{"key and its base64", []string{"abc123", "YWJjMTIzOg=="}, `{"message":"bad key ABC123 (YWJjMTIzOg==)"}`,
			"blueshift: 422 Unprocessable Entity: bad key [redacted] ([redacted])", nil},
		{"Kelvin sign folds to k", []string{"kate@example.com"}, `{"message":"\u212Aate@example.com?"}`,
			"blueshift: 422 Unprocessable Entity: [redacted]?", nil},
		{"U+FFFD inside an echoed email", []string{"ann@example.com"}, `{"message":"unknown customer ann@exa\ufffdmple.com"}`,
			"blueshift: 422 Unprocessable Entity: unknown customer [redacted]", nil},
		{"invalid byte inside an echoed id", []string{"", "cust-000123"}, "{\"message\":\"unknown cust-000\xff123\"}",
			"blueshift: 422 Unprocessable Entity: unknown [redacted]", nil},
		{"U+FFFD inside a field error", []string{"ann@example.com"}, `{"errors":{"email":["ann@exa\ufffdmple.com is taken"]}}`,
			"blueshift: 422 Unprocessable Entity: email [redacted] is taken", map[string][]string{"email": {"[redacted] is taken"}}},
		{"field error named by an identifier", []string{"ann@example.com"}, `{"errors":{"ann@example.com":["is invalid"]}}`,
			"blueshift: 422 Unprocessable Entity: [redacted] is invalid", map[string][]string{"[redacted]": {"is invalid"}}},
		{"one id inside another", []string{"", "12345", "123456789"}, `{"message":"cookie 123456789 bad"}`,
			"blueshift: 422 Unprocessable Entity: cookie [redacted] bad", nil},
		{"overlapping ids", []string{"", "abcd1234", "1234wxyz"}, `{"message":"abcd1234wxyz"}`,
			"blueshift: 422 Unprocessable Entity: [redacted]", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAPIError(422, "", []byte(tc.body), tc.secrets)
			if got := e.Error(); got != tc.want {
				t.Errorf("Error()\n got %q\nwant %q", got, tc.want)
			}
			for name, want := range tc.fields {
				if got := strings.Join(e.FieldErrors[name], "|"); got != strings.Join(want, "|") {
					t.Errorf("FieldErrors[%s] = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestRequestIDIsRedactedBeforeItIsCut(t *testing.T) {
	secrets := []string{"ann.lastname@example.com", "7"}
	for header, want := range map[string]string{
		"req-ANN.lastname@example.com":                            "req-[redacted]",
		strings.Repeat("r", 112) + "ann.lastname@example.com":     strings.Repeat("r", 112) + "[redacted]",
		strings.Repeat("r", 120) + "ann.lastname@exa\xffmple.com": strings.Repeat("r", 120) + "[redacte",
		"req-7": "req-[redacted]", // a short ID as a whole token, as in Message
		"req7f": "req7f",          // a short ID inside a token is a coincidence
	} {
		resp := &http.Response{Header: http.Header{"X-Request-Id": {header}}}
		if got := requestID(resp, secrets); got != want {
			t.Errorf("requestID(%q) = %q, want %q", header, got, want)
		}
	}
}

// FuzzRedaction checks the promise: for any identifiers and any message
// that echoes them (in any letter case, behind any prefix, cut anywhere),
// no identifier of 4 or more bytes survives in Error().
func FuzzRedaction(f *testing.F) {
	f.Add("Ann@Example.com", "C-1", "prefix ", " suffix", uint8(1), uint16(0))
	f.Add(strings.Repeat("a", 500)+"@x.io", "ID", strings.Repeat("p", 300), "", uint8(0), uint16(700))
	f.Add("kate@example.com", "e", "Rate limit exceeded ", "", uint8(2), uint16(30))
	f.Add("İstanbul@example.com", "ſecret", "", "", uint8(1), uint16(0))
	f.Fuzz(func(t *testing.T, email, id, prefix, suffix string, caseMode uint8, cut uint16) {
		c := Customer{Email: email, CustomerID: id}.Trimmed()
		if c.validateTrimmed() != nil {
			return // never sent, so never echoed
		}
		transform := [...]func(string) string{func(s string) string { return s }, strings.ToUpper, strings.ToLower}[caseMode%3]
		msg := prefix + transform(c.Email) + " / " + transform(c.CustomerID) + suffix
		if n := int(cut); n > 0 && n < len(msg) {
			msg = msg[:n]
		}
		body, _ := json.Marshal(map[string]string{"message": msg})
		ids := c.identifiers()
		out := newAPIError(429, "", body, ids[:]).Error()
		for _, secret := range ids {
			if len(secret) < minAnywhere || !utf8.ValidString(out) {
				continue
			}
			for _, fold := range []func(string) string{strings.ToLower, strings.ToUpper} {
				if strings.Contains(fold(out), fold(secret)) {
					t.Fatalf("identifier %q survives in %q", secret, out)
				}
			}
		}
	})
}

// FuzzRedactionQuoted checks that an identifier echoed in a network error's
// text or a response body in any quoted or escaped form (Go's %q and %+q,
// as net/http quotes a server's bytes, and JSON: ASCII-only in either hex
// case, with \/, and quoted inside a JSON string) does not survive in
// RequestError.Err's text or APIError.Body, whatever surrounds it.
func FuzzRedactionQuoted(f *testing.F) {
	f.Add(`4"2x`, "malformed HTTP status code ", "", uint8(0))
	f.Add(`cu\st`, "", " tail", uint8(1))
	f.Add("dév-Ann-4242", "x", "y", uint8(2))
	f.Add("ck-\u00adsoft<&>", `"`, `"`, uint8(3))
	f.Add("ann@example.com", "unsolicited ", "", uint8(4))
	f.Add("cké-😀-1234", "unknown cookie ", "", uint8(6))
	f.Add("dev/id/9999", "bad device ", "", uint8(8))
	f.Add(`cust"4242`, `params: {\"customer_id\":`, "}", uint8(9))
	f.Fuzz(func(t *testing.T, id, prefix, suffix string, form uint8) {
		c := Customer{CustomerID: id}.Trimmed()
		if c.validateTrimmed() != nil || len(c.CustomerID) < minAnywhere {
			return // never sent, or only redacted as a whole token
		}
		id = c.CustomerID
		j, _ := json.Marshal(id)
		ascii := pythonJSON(id)
		quoted := []string{strconv.Quote(id), strconv.QuoteToASCII(id), string(j), fmt.Sprintf("%q", id), fmt.Sprintf("%+q", id),
			ascii, upperHex.ReplaceAllStringFunc(ascii, func(e string) string { return `\u` + strings.ToUpper(e[2:]) }), strings.ReplaceAll(string(j), "/", `\/`)}
		for _, once := range []string{string(j), ascii} { // JSON inside a JSON string
			twice, _ := json.Marshal(once[1 : len(once)-1])
			quoted = append(quoted, string(twice))
		}
		inner := []string{id} // each form without its outer quotes
		for _, q := range quoted {
			inner = append(inner, q[1:len(q)-1])
		}
		const rawURL = "http://127.0.0.1:1/api/v1/customers/unforget"
		for _, own := range append(append(ownPhrases, goFormats...), rawURL, "Post") {
			for _, in := range inner {
				if strings.Contains(strings.ToLower(own), strings.ToLower(in)) {
					return // the client's own words keep it by coincidence
				}
			}
		}
		echo := append([]string{id}, quoted...)[int(form)%(len(quoted)+1)]
		cause := &url.Error{Op: "Post", URL: rawURL, Err: errors.New(prefix + echo + suffix)}
		ids := c.identifiers()
		body := string(redactBody([]byte(prefix+echo+suffix), ids[:]))
		for _, out := range []string{redactedCause(cause, ids[:], rawURL).Error(), body} {
			out = strings.ToLower(strings.ReplaceAll(out, redacted, "\x00"))
			for _, in := range inner {
				if strings.Contains(out, strings.ToLower(in)) {
					t.Fatalf("identifier %q survives as %q in %q", id, in, out)
				}
			}
		}
	})
}

// upperHex matches the hex digits of a \u escape.
var upperHex = regexp.MustCompile(`\\u[0-9a-f]{4}`)

// pythonJSON returns s as Python's json.dumps writes it by default: JSON
// with every rune past ASCII as \u escapes, a surrogate pair past U+FFFF.
func pythonJSON(s string) string {
	j, _ := json.Marshal(s)
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(string(j))) {
		if u < 0x80 {
			b.WriteByte(byte(u))
		} else {
			fmt.Fprintf(&b, "\\u%04x", u)
		}
	}
	return b.String()
}
