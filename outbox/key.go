package outbox

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/blueshift-go/blueshift"
)

// identityKey is the outbox's key for a customer: a SHA-256 of its four
// identifiers, trimmed as the client trims them, with the email
// lower-cased (Blueshift matches emails without regard to case). The
// identifiers cannot hold control characters once validated, so the unit
// separator between them is unambiguous. Hashing keeps the key, and the
// primary-key index, small whatever the identifiers' length.
func identityKey(c blueshift.Customer) string {
	c = c.Trimmed()
	sum := sha256.Sum256([]byte(strings.ToLower(c.Email) + "\x1f" + c.CustomerID + "\x1f" + c.Cookie + "\x1f" + c.DeviceID))
	return hex.EncodeToString(sum[:])
}
