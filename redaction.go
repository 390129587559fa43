package blueshift

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// redacted replaces an identifier or a form of the API key in text that
// reaches an error or a log line.
const redacted = "[redacted]"

// minAnywhere is the shortest secret, in bytes, that is redacted wherever
// it occurs; a shorter one only where it stands as a whole token, so that a
// customer ID "e" leaves "Rate limit exceeded" readable.
const minAnywhere = 4

// redact replaces every non-empty secret in s with "[redacted]", ignoring
// letter case (an email echoed in another case is the same email), in its
// plain form and in every quoted or escaped form of echoForms. A secret
// shorter than minAnywhere bytes is replaced only where no letter or digit
// stands on either side of it. Matches of different secrets that overlap
// or touch are merged and replaced as one, so no part of either survives.
// Call it on cleaned text (see clean) and before any cut, so that neither a
// dropped byte nor a cut can leave part of a secret behind.
func redact(s string, secrets []string) string { return redactExcept(s, secrets, nil) }

// redactExcept is redact for text that mixes outside bytes with the
// client's own words (own: the spans of s that its URL, method, addresses
// or Go's fixed error texts fill): a match that lies wholly inside one of
// those is left alone, so that a customer ID "1" cannot turn 127.0.0.1:1
// into 127.0.0.[redacted].
func redactExcept(s string, secrets []string, own [][2]int) string {
	var spans [][2]int // [start, end) of every match
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		anywhere := len(secret) >= minAnywhere
		spans = appendMatches(spans, s, secret, anywhere)
		for _, form := range echoForms(secret) {
			spans = appendMatches(spans, s, form, anywhere)
		}
	}
	if len(spans) > 0 && len(own) > 0 {
		spans = dropOwn(spans, own)
	}
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var b strings.Builder
	b.Grow(len(s))
	copied := 0 // s[:copied] is in b, or replaced
	for i := 0; i < len(spans); {
		start, end := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= end; i++ {
			end = max(end, spans[i][1])
		}
		b.WriteString(s[copied:start])
		b.WriteString(redacted)
		copied = end
	}
	b.WriteString(s[copied:])
	return b.String()
}

// wordSpans returns the spans of every occurrence of each word in s.
func wordSpans(s string, words []string) [][2]int {
	var mine [][2]int
	for _, word := range words {
		for from := 0; word != "" && from < len(s); {
			i := strings.Index(s[from:], word)
			if i < 0 {
				break
			}
			mine = append(mine, [2]int{from + i, from + i + len(word)})
			from += i + 1
		}
	}
	return mine
}

// dropOwn removes the spans that lie wholly inside one of the own spans.
func dropOwn(spans, own [][2]int) [][2]int {
	kept := spans[:0]
	for _, sp := range spans {
		inside := false
		for _, m := range own {
			if m[0] <= sp[0] && sp[1] <= m[1] {
				inside = true
				break
			}
		}
		if !inside {
			kept = append(kept, sp)
		}
	}
	return kept
}

// appendMatches appends the spans of s that match secret: anywhere, or
// only as a whole token.
func appendMatches(spans [][2]int, s, secret string, anywhere bool) [][2]int {
	for i := 0; i < len(s); {
		if n := foldPrefix(s[i:], secret); n > 0 && (anywhere || isWholeToken(s, i, i+n)) {
			spans = append(spans, [2]int{i, i + n})
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return spans
}

// foldPrefix returns the length in bytes of the prefix of s that equals
// secret under Unicode case folding, or 0 if s does not start with it.
// The lengths may differ: "K" (the Kelvin sign) is three bytes, "k" one.
func foldPrefix(s, secret string) int {
	i := 0
	for _, want := range secret {
		if i >= len(s) {
			return 0
		}
		got, size := utf8.DecodeRuneInString(s[i:])
		if got != want && !sameFold(got, want) {
			return 0
		}
		i += size
	}
	return i
}

// sameFold reports whether a and b are the same letter in another case:
// under Unicode case folding, or by their lower or upper case (which also
// pairs the Turkish dotted İ with i).
func sameFold(a, b rune) bool {
	if unicode.ToLower(a) == unicode.ToLower(b) || unicode.ToUpper(a) == unicode.ToUpper(b) {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// isWholeToken reports whether s[start:end] has no letter or digit
// immediately before or after it.
func isWholeToken(s string, start, end int) bool {
	if r, _ := utf8.DecodeLastRuneInString(s[:start]); start > 0 && isWordRune(r) {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(s[end:]); end < len(s) && isWordRune(r) {
		return false
	}
	return true
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// safeText makes server-sent text safe for a one-line error or log line:
// cleaned (see clean), with the secrets redacted, and cut to at most max
// bytes on a rune boundary, in that order.
func safeText(s string, secrets []string, max int) string {
	return cut(redact(clean(s), secrets), max)
}

// clean turns control characters into spaces and drops invalid UTF-8 and
// U+FFFD. It runs before redact, so that a byte dropped from inside an
// echoed identifier cannot rebuild the identifier after redaction.
func clean(s string) string {
	dirty := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			dirty = true
			break
		}
	}
	if !dirty {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
		case isControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cut trims s and cuts it to at most max bytes on a rune boundary.
func cut(s string, max int) string {
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	end := max
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return strings.TrimSpace(s[:end])
}

// sealed holds a secret where no printer can reach it. fmt's %#v, spew and
// testify's diffs print a struct field by field, unexported fields and
// pointers included, but a func only as an address: the secret lives in a
// closure.
type sealed[T any] struct{ get func() T }

func seal[T any](v T) sealed[T] { return sealed[T]{get: func() T { return v }} }

// open returns the secret, or T's zero value for a zero sealed.
func (s sealed[T]) open() T {
	if s.get == nil {
		var zero T
		return zero
	}
	return s.get()
}

// echoForms returns the forms in which text from outside may echo secret,
// besides the plain one: Go-quoted (strconv.Quote, as net/http's %q prints
// a server's bytes, and its ASCII-only form) and JSON-escaped (see
// jsonForms), once and twice (JSON quoted inside a JSON string), each
// without its outer quotes and only when it differs from the plain form.
// A secret that needs no escaping, the usual case, costs a scan and no
// allocation.
func echoForms(secret string) []string {
	if !needsEscaping(secret) {
		return nil
	}
	var forms []string
	add := func(form string) {
		if form == secret {
			return
		}
		for _, f := range forms {
			if f == form {
				return
			}
		}
		forms = append(forms, form)
	}
	// Matching ignores letter case, but an escape such as \u00e9 names one
	// case of its letter: escape the secret in both cases too.
	for _, variant := range []string{secret, strings.ToLower(secret), strings.ToUpper(secret)} {
		for _, quoted := range []string{strconv.Quote(variant), strconv.QuoteToASCII(variant)} {
			add(quoted[1 : len(quoted)-1])
		}
		for _, once := range jsonForms(variant) {
			add(once)
			for _, twice := range jsonForms(once) {
				add(twice)
			}
		}
	}
	return forms
}

// jsonForms returns s as JSON encoders write it inside a string, without
// the quotes: with and without HTML escaping (\u003c), ASCII-only (\u00e9,
// a surrogate pair for a rune past U+FFFF, as Python's json.dumps writes by
// default) or not, and with or without the optional \/ for "/" (PHP's
// json_encode). Hex digits are written in lower case; redaction ignores
// letter case, so upper-case hex is matched too.
func jsonForms(s string) []string {
	var forms []string
	var b strings.Builder
	for _, html := range []bool{true, false} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(s) // a string always encodes
		plain := strings.TrimSuffix(b.String(), "\n")
		plain = plain[1 : len(plain)-1]
		for _, f := range []string{plain, asciiOnly(plain)} {
			forms = append(forms, f, strings.ReplaceAll(f, "/", `\/`))
		}
	}
	return forms
}

// asciiOnly returns JSON string content with every non-ASCII rune written
// as a \u escape (two for a rune past U+FFFF).
func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		} else {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// needsEscaping reports whether strconv.Quote, QuoteToASCII or a JSON
// encoder (see jsonForms) could write s differently from its plain bytes.
func needsEscaping(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&', c == '/':
			return true
		}
	}
	return false
}
