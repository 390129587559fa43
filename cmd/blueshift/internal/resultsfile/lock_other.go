//go:build !unix && !windows

package resultsfile

import (
	"errors"
	"os"
)

// lockFile fails: without a lock two runs could write one results file at
// once, so a system without one gets no results file rather than a
// corrupt one.
func lockFile(*os.File) error {
	return errors.New("this system offers no file lock for a results file")
}
