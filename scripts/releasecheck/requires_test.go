package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRequirementsWantsSiblingsAtTheReleaseVersion(t *testing.T) {
	const (
		core = "module example.com/core\n\ngo 1.23\n\nrequire golang.org/x/time v0.12.0\n"
		// an older core that a proxy may well serve: the check must still fail
		oldCore  = "module example.com/core/extra\n\ngo 1.25.0\n\nrequire (\n\texample.com/core v0.1.0\n\tgolang.org/x/time v0.12.0\n)\n"
		newCore  = "module example.com/core/extra\n\ngo 1.25.0\n\nrequire example.com/core v0.2.0\n"
		indirect = "module example.com/core/extra\n\ngo 1.25.0\n\nrequire example.com/core v0.1.0 // indirect\n"
		other    = "module example.com/core/other\n\ngo 1.25.0\n\nrequire (\n\texample.com/core v0.2.0\n\texample.com/core/extra v0.1.9\n)\n"
		noCore   = "module example.com/core/extra\n\ngo 1.25.0\n\nrequire golang.org/x/time v0.12.0\n"
		broken   = "module example.com/core/extra\n\nrequire (\n"
	)
	tests := []struct {
		name  string
		mods  map[string]string // directory → go.mod
		wants []string          // in the error, in order; none: no error
	}{
		{"every sibling at the release", map[string]string{".": core, "extra": newCore}, nil},
		{"no sibling required", map[string]string{".": core, "extra": noCore}, nil},
		{"older core", map[string]string{".": core, "extra": oldCore},
			[]string{"extra/go.mod requires example.com/core@v0.1.0", "released at v0.2.0"}},
		{"older core, indirect", map[string]string{".": core, "extra": indirect},
			[]string{"extra/go.mod requires example.com/core@v0.1.0"}},
		{"older nested sibling, every fault named", map[string]string{".": core, "extra": oldCore, "other": other},
			[]string{"extra/go.mod requires example.com/core@v0.1.0", "other/go.mod requires example.com/core/extra@v0.1.9"}},
		{"unparsable go.mod", map[string]string{".": core, "extra": broken}, []string{"extra/go.mod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			var mods []repoModule
			for _, dir := range []string{".", "extra", "other"} {
				text, ok := tt.mods[dir]
				if !ok {
					continue
				}
				path := filepath.Join(root, dir, "go.mod")
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				modPath := "example.com/core"
				if dir != "." {
					modPath += "/" + dir
				}
				mods = append(mods, repoModule{Path: modPath, Rel: dir, Dir: filepath.Join(root, dir)})
			}
			err := checkRequirements(mods, "v0.2.0")
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("checkRequirements: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkRequirements: nil, want an error naming %q", tt.wants)
			}
			rest := err.Error()
			for _, want := range tt.wants {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("error %q does not name %q (in order)", err, want)
				}
				rest = rest[i+len(want):]
			}
		})
	}
}

// TestRunRefusesAReleaseWithAnOlderSibling is the reviewer's case: the
// core's Version is bumped, a nested module still requires the last
// release, which a proxy does serve; no proxy directory may be written.
func TestRunRefusesAReleaseWithAnOlderSibling(t *testing.T) {
	root := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":       "module example.com/core\n\ngo 1.23\n",
		"client.go":    "package core\n\nconst Version = \"0.2.0\"\n",
		"extra/go.mod": "module example.com/core/extra\n\ngo 1.25.0\n\nrequire example.com/core v0.1.0\n",
	} {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitInit(t, root)
	out := filepath.Join(t.TempDir(), "proxy")
	var stdout strings.Builder
	err := run(root, out, &stdout)
	if err == nil || !strings.Contains(err.Error(), "extra/go.mod requires example.com/core@v0.1.0") {
		t.Fatalf("run: %v, want the stale requirement named", err)
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("the proxy directory was written (%v): nothing may be released", statErr)
	}
}

// gitInit makes root a git work tree, as discover needs.
func gitInit(t *testing.T, root string) {
	t.Helper()
	if out, err := exec.Command("git", "-C", root, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
}
