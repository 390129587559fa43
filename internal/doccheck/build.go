package doccheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildFiles writes each block that is a complete Go file into a directory
// of its own under a temporary directory inside root (so that it builds in
// the repository's workspace and can import every module of it; its name
// starts with "_" so that a concurrent `go build ./...` skips it), and runs
// `go vet` on them all at once, which type-checks them as the compiler does.
// The error holds the go command's output, with each directory named after
// the block's file and line.
func BuildFiles(root string, blocks []Block) error {
	tmp, err := os.MkdirTemp(root, "_doccheck-tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var names []string
	for i, b := range blocks {
		dir := filepath.Join(tmp, fmt.Sprintf("block%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "block.go"), []byte(b.Code+"\n"), 0o644); err != nil {
			return err
		}
		names = append(names, fmt.Sprintf("block%d = %s", i, b))
	}
	if len(blocks) == 0 {
		return nil
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go vet of the documentation's Go files: %w\n%s\n(%s)", err, out, strings.Join(names, ", "))
	}
	return nil
}
