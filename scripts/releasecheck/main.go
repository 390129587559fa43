// Command releasecheck writes a Go module proxy directory (the GOPROXY file
// layout: <module>/@v/list, .info, .mod, .zip) holding every module of this
// repository at its release version, built from the working tree, so that
// scripts/release-check can resolve the modules the way a user's `go get`
// would once they are tagged.
//
// It is a module of its own (not in go.work) so that golang.org/x/mod, which
// builds the zips exactly as the go command checks them, never becomes a
// dependency of the core module.
//
//	cd scripts/releasecheck && GOWORK=off go run . -root ../.. -out /tmp/proxy
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	root := flag.String("root", "../..", "the repository's root directory")
	out := flag.String("out", "", "the proxy directory to write (created)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "releasecheck: -out is required")
		os.Exit(2)
	}
	if err := run(*root, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "releasecheck:", err)
		os.Exit(1)
	}
}

// run discovers the modules under root, checks that each requires the
// others at the release version, and writes each to the proxy directory out
// at that version, printing one line per module.
func run(root, out string, stdout io.Writer) error {
	mods, err := discover(root)
	if err != nil {
		return err
	}
	version, err := releaseVersion(root)
	if err != nil {
		return err
	}
	if err := checkRequirements(mods, version); err != nil {
		return err
	}
	for _, m := range mods {
		if err := writeModule(out, m, version); err != nil {
			return fmt.Errorf("%s: %w", m.Path, err)
		}
		fmt.Fprintf(stdout, "%s@%s (%s, %d files)\n", m.Path, version, m.Rel, len(m.Files))
	}
	return nil
}
