package doccheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Examples returns the source of every Example function in the _test.go
// files under root, from `func` to its closing brace as the file holds it,
// by name. A name found in two places maps to every place, so that a block
// naming it can be refused as ambiguous. Directories starting with "." or
// "_", and testdata, are skipped.
func Examples(root string) (map[string][]string, error) {
	examples := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		return addExamples(examples, path)
	})
	return examples, err
}

func addExamples(examples map[string][]string, path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	for _, decl := range file.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Example") {
			continue
		}
		from, to := fset.Position(fd.Pos()).Offset, fset.Position(fd.End()).Offset
		examples[fd.Name.Name] = append(examples[fd.Name.Name], string(src[from:to]))
	}
	return nil
}

// CheckExample reports how block b differs from the Example it names, or
// nil when it is that Example's source exactly (after trimming both).
func CheckExample(b Block, examples map[string][]string) error {
	sources := examples[b.Example]
	switch {
	case len(sources) == 0:
		return fmt.Errorf("%s: no function %s in any _test.go file", b, b.Example)
	case len(sources) > 1:
		return fmt.Errorf("%s: %s is defined %d times; rename one so the block names one function", b, b.Example, len(sources))
	}
	want, got := strings.TrimSpace(sources[0]), strings.TrimSpace(b.Code)
	if got == want {
		return nil
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			return fmt.Errorf("%s: differs from %s at its line %d:\n  doc:  %q\n  code: %q", b, b.Example, i+1, g, w)
		}
	}
	return fmt.Errorf("%s: differs from %s", b, b.Example)
}
