package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// A repoModule is one go.mod of the repository and the files it releases.
type repoModule struct {
	Path  string   // module path from its go.mod
	Rel   string   // directory relative to the root, "." for the core
	Dir   string   // the directory itself
	Files []string // files relative to Dir, as git sees the working tree
}

// discover finds every released module under root: each directory with a
// go.mod, except the tools under scripts/ (which are never released). Its
// files are those of the working tree that git tracks or would add
// (ignored build outputs left out), minus nested modules' files.
func discover(root string) ([]repoModule, error) {
	cmd := exec.Command("git", "ls-files", "-co", "--exclude-standard", "-z")
	cmd.Dir = root
	listed, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var files, dirs []string
	for _, f := range strings.Split(string(listed), "\x00") {
		if f == "" {
			continue
		}
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			continue // deleted in the working tree
		}
		files = append(files, f)
		if path.Base(f) == "go.mod" && !strings.HasPrefix(f, "scripts/") {
			dirs = append(dirs, path.Dir(f))
		}
	}
	sort.Strings(dirs)
	var mods []repoModule
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(root, dir, "go.mod"))
		if err != nil {
			return nil, err
		}
		modPath := modfile.ModulePath(data)
		if modPath == "" {
			return nil, fmt.Errorf("%s/go.mod has no module line", dir)
		}
		mods = append(mods, repoModule{Path: modPath, Rel: dir, Dir: filepath.Join(root, dir), Files: filesOf(dir, files)})
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("no go.mod under %s", root)
	}
	return mods, nil
}

// filesOf returns the files under dir that belong to dir's module: not under
// a deeper directory that holds a go.mod of its own.
func filesOf(dir string, files []string) []string {
	nested := map[string]bool{}
	for _, f := range files {
		if path.Base(f) == "go.mod" && path.Dir(f) != dir && within(dir, path.Dir(f)) {
			nested[path.Dir(f)] = true
		}
	}
	var out []string
next:
	for _, f := range files {
		if !within(dir, f) {
			continue
		}
		for n := range nested {
			if within(n, f) {
				continue next
			}
		}
		rel := f
		if dir != "." {
			rel = strings.TrimPrefix(f, dir+"/")
		}
		out = append(out, rel)
	}
	return out
}

// within reports whether the slash path f is dir or lies under it.
func within(dir, f string) bool {
	return dir == "." || f == dir || strings.HasPrefix(f, dir+"/")
}

var versionConst = regexp.MustCompile(`(?m)^const Version = "([^"]+)"`)

// releaseVersion is the core's Version constant as a module version
// ("0.1.0" in client.go gives v0.1.0): every module of the repository is
// released at it.
func releaseVersion(root string) (string, error) {
	src, err := os.ReadFile(filepath.Join(root, "client.go"))
	if err != nil {
		return "", err
	}
	m := versionConst.FindSubmatch(src)
	if m == nil {
		return "", fmt.Errorf("client.go has no `const Version = \"...\"`")
	}
	return "v" + string(bytes.TrimPrefix(m[1], []byte("v"))), nil
}
