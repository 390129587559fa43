package blueshift

import (
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
// digit stands on either side of it. Call it before any truncation, so
// that a cut cannot leave a prefix of a secret behind.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = redactOne(s, secret)
		}
	}
	return s
}

// redactOne replaces the occurrences of secret in s.
func redactOne(s, secret string) string {
	var b strings.Builder
	copied := 0 // s[:copied] is already in b (or needs no change)
	for i := 0; i < len(s); {
		n := foldPrefix(s[i:], secret)
		if n > 0 && (len(secret) >= minAnywhere || isWholeToken(s, i, i+n)) {
			if b.Cap() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[copied:i])
			b.WriteString(redacted)
			i += n
			copied = i
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if copied == 0 {
		return s
	}
	b.WriteString(s[copied:])
	return b.String()
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

// sanitize makes server-sent text safe for a one-line error: control
// characters become spaces, invalid UTF-8 is dropped and the result is cut
// to at most max bytes on a rune boundary. Redact before sanitizing.
func sanitize(s string, max int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean && len(s) <= max {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError {
			continue
		}
		if isControl(r) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
