package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// writeModule writes m at version into the proxy directory out: @v/list,
// and the version's .info, .mod and .zip, the files a GOPROXY serves.
func writeModule(out string, m repoModule, version string) error {
	mv := module.Version{Path: m.Path, Version: version}
	if err := module.Check(mv.Path, mv.Version); err != nil {
		return err
	}
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	escVersion, err := module.EscapeVersion(version)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, escVersion)
	if err := writeZip(base+".zip", mv, m); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".mod", gomod, 0o644); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".info", info, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "list"), []byte(version+"\n"), 0o644)
}

// writeZip writes the module zip with golang.org/x/mod/zip, which applies
// the go command's own rules (size limits, file names, no nested modules).
func writeZip(name string, mv module.Version, m repoModule) error {
	var files []modzip.File
	for _, f := range m.Files {
		files = append(files, dirFile{rel: f, path: filepath.Join(m.Dir, filepath.FromSlash(f))})
	}
	zf, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := modzip.Create(zf, mv, files); err != nil {
		zf.Close()
		return fmt.Errorf("zip: %w", err)
	}
	return zf.Close()
}

// dirFile is a working-tree file for modzip.Create.
type dirFile struct{ rel, path string }

func (f dirFile) Path() string                 { return f.rel }
func (f dirFile) Lstat() (os.FileInfo, error)  { return os.Lstat(f.path) }
func (f dirFile) Open() (io.ReadCloser, error) { return os.Open(f.path) }
