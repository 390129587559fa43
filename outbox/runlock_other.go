//go:build !unix

package outbox

import "errors"

// errLocked is never returned where flock does not exist.
var errLocked = errors.New("outbox: locked")

// lockFile is a no-op where flock does not exist: run one Run per SQLite
// file there.
func lockFile(string) (func(), error) { return func() {}, nil }
