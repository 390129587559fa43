package blueshift

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Customer identifies a Blueshift customer by up to four identifiers. At
// least one must be non-blank. Before anything is sent, each identifier is
// trimmed of white space and zero-width characters (see Trimmed) and
// checked (see Validate); what is sent is otherwise exactly what was given,
// byte for byte.
type Customer struct {
	// Email is the customer's email address.
	Email string `json:"email,omitempty"`
	// CustomerID is your own external ID for the customer.
	CustomerID string `json:"customer_id,omitempty"`
	// Cookie is the browser cookie Blueshift knows the customer by.
	Cookie string `json:"cookie,omitempty"`
	// DeviceID is the mobile device ID Blueshift knows the customer by, for
	// example an app's anonymous user.
	DeviceID string `json:"device_id,omitempty"`
}

// MaxIdentifierBytes is the longest identifier, in bytes after trimming,
// that Validate accepts.
const MaxIdentifierBytes = 512

// Trimmed returns c with white space (Unicode's) and the zero-width
// characters U+200B and U+FEFF removed from both ends of every identifier:
// the identifiers as StartTracking and StopTracking send them.
func (c Customer) Trimmed() Customer {
	return Customer{
		Email:      trimIdentifier(c.Email),
		CustomerID: trimIdentifier(c.CustomerID),
		Cookie:     trimIdentifier(c.Cookie),
		DeviceID:   trimIdentifier(c.DeviceID),
	}
}

// Validate reports whether c may be sent, with the same rules and errors
// as StartTracking and StopTracking apply before sending anything:
// ErrMissingIdentifier when every identifier is blank after trimming, and
// an error matching ErrInvalidIdentifier when one is not valid UTF-8, holds
// a control character (C0, DEL or C1), or is longer than
// MaxIdentifierBytes after trimming. The message names the field and the
// reason, never the value. Queues and tools in front of a Client can call
// it to refuse exactly what the Client would refuse.
func (c Customer) Validate() error {
	return c.Trimmed().validateTrimmed()
}

// validateTrimmed is Validate for a customer that is already trimmed.
func (c Customer) validateTrimmed() error {
	fields := [...]struct{ name, value string }{
		{"email", c.Email}, {"customer_id", c.CustomerID}, {"cookie", c.Cookie}, {"device_id", c.DeviceID},
	}
	blank := true
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		blank = false
		if reason := identifierProblem(f.value); reason != "" {
			return fmt.Errorf("%w: %s %s", ErrInvalidIdentifier, f.name, reason)
		}
	}
	if blank {
		return ErrMissingIdentifier
	}
	return nil
}

// identifierProblem says what is wrong with a trimmed, non-empty
// identifier, or "" if nothing is.
func identifierProblem(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	if len(v) > MaxIdentifierBytes {
		return fmt.Sprintf("is longer than %d bytes", MaxIdentifierBytes)
	}
	for _, r := range v {
		if isControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

// isControl reports whether r is a C0 control, DEL or a C1 control.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0)
}

// trimIdentifier removes white space and zero-width characters from both
// ends of s. Invalid UTF-8 is kept, for Validate to refuse.
func trimIdentifier(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
	})
}

// identifiers returns the four identifiers, for redaction.
func (c Customer) identifiers() [4]string {
	return [4]string{c.Email, c.CustomerID, c.Cookie, c.DeviceID}
}

// jsonBody encodes a validated customer as the request body, with its
// non-empty identifiers byte for byte as given: validation has ruled out
// control characters and invalid UTF-8, so only '"' and '\\' need escaping
// (encoding/json would also rewrite '<', '>' and '&').
func (c Customer) jsonBody() []byte {
	b := make([]byte, 0, 2+len(c.Email)+len(c.CustomerID)+len(c.Cookie)+len(c.DeviceID)+64)
	b = append(b, '{')
	for _, f := range [...]struct{ name, value string }{
		{`"email":"`, c.Email}, {`"customer_id":"`, c.CustomerID}, {`"cookie":"`, c.Cookie}, {`"device_id":"`, c.DeviceID},
	} {
		if f.value == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, f.name...)
		for i := 0; i < len(f.value); i++ {
			if ch := f.value[i]; ch == '"' || ch == '\\' {
				b = append(b, '\\')
			}
			b = append(b, f.value[i])
		}
		b = append(b, '"')
	}
	return append(b, '}')
}
