package blueshift

import (
	"sort"
	"strings"
	"unicode"
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
// letter case (an email echoed in another case is the same email). A
// secret shorter than minAnywhere bytes is replaced only where no letter or
// digit stands on either side of it. Matches of different secrets that
// overlap or touch are merged and replaced as one, so no part of either
// survives. Call it on cleaned text (see clean) and before any cut, so that
// neither a dropped byte nor a cut can leave part of a secret behind.
func redact(s string, secrets []string) string {
	var spans [][2]int // [start, end) of every match
	for _, secret := range secrets {
		if secret != "" {
			spans = appendMatches(spans, s, secret)
		}
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

// appendMatches appends the spans of s that match secret.
func appendMatches(spans [][2]int, s, secret string) [][2]int {
	for i := 0; i < len(s); {
		if n := foldPrefix(s[i:], secret); n > 0 && (len(secret) >= minAnywhere || isWholeToken(s, i, i+n)) {
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
