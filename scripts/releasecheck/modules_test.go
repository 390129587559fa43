package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestFilesOfLeavesOutNestedModules(t *testing.T) {
	files := []string{"go.mod", "client.go", "docs/a.md", "outbox/go.mod", "outbox/outbox.go",
		"outbox/examples/optin/main.go", "scripts/tool/go.mod", "scripts/tool/main.go", "scripts/bench.sh"}
	tests := []struct {
		dir  string
		want []string
	}{
		{".", []string{"go.mod", "client.go", "docs/a.md", "scripts/bench.sh"}},
		{"outbox", []string{"go.mod", "outbox.go", "examples/optin/main.go"}},
	}
	for _, tt := range tests {
		if got := filesOf(tt.dir, files); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("filesOf(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func TestDiscoverFindsReleasedModulesAndTheVersion(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/core\n\ngo 1.23\n")
	write("client.go", "package core\n\nconst Version = \"1.2.3\"\n")
	write("extra/go.mod", "module example.com/core/extra\n\ngo 1.25\n")
	write("extra/extra.go", "package extra\n")
	write("scripts/tool/go.mod", "module example.com/core/scripts/tool\n")
	write("build.out", "ignored\n")
	write(".gitignore", "*.out\n")
	gitInit(t, root)

	mods, err := discover(root)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for _, m := range mods {
		got = append(got, [2]string{m.Path, m.Rel})
	}
	want := [][2]string{{"example.com/core", "."}, {"example.com/core/extra", "extra"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("modules %v, want %v (tools under scripts/ are not released)", got, want)
	}
	if want := []string{".gitignore", "client.go", "go.mod"}; !reflect.DeepEqual(mods[0].Files, want) {
		t.Errorf("core files %q, want %q (ignored and nested files left out)", mods[0].Files, want)
	}
	version, err := releaseVersion(root)
	if err != nil || version != "v1.2.3" {
		t.Errorf("releaseVersion = %q, %v; want v1.2.3", version, err)
	}
}
