package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// checkRequirements returns an error naming every requirement, in any
// module's go.mod, of another module of the repository at a version other
// than version, the one being released. Resolving the modules is not
// enough to catch one: once an older release is on a proxy, a nested
// module that still requires it resolves, and its users get the old core.
func checkRequirements(mods []repoModule, version string) error {
	siblings := map[string]bool{}
	for _, m := range mods {
		siblings[m.Path] = true
	}
	var errs []error
	for _, m := range mods {
		name := path.Join(m.Rel, "go.mod")
		data, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
		if err != nil {
			return err
		}
		f, err := modfile.Parse(name, data, nil)
		if err != nil {
			return err
		}
		for _, r := range f.Require {
			if siblings[r.Mod.Path] && r.Mod.Version != version {
				errs = append(errs, fmt.Errorf("%s requires %s@%s, but the modules are released at %s: run `(cd %s && GOWORK=off go mod edit -require=%s@%s)`",
					name, r.Mod.Path, r.Mod.Version, version, m.Rel, r.Mod.Path, version))
			}
		}
	}
	return errors.Join(errs...)
}
