// Package doccheck checks that every Go code block in the repository's
// Markdown (README.md and docs/*.md) compiles or is an Example verbatim, so
// that what users copy from the documentation is code that builds.
//
// A ```go block must be either a complete Go file starting with `package`,
// which is built and vetted inside the repository's workspace, or the exact
// source of an Example function, with the line `<!-- example: ExampleX -->`
// directly above the fence; such a block must equal, after trimming, that
// function's source as it stands in a _test.go file of the repository.
package doccheck

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// A Block is one ```go code block of a Markdown file.
type Block struct {
	File    string // the Markdown file
	Line    int    // line of the opening fence, 1-based
	Example string // the Example named in the marker above the fence, or ""
	Code    string // the block's text, fences excluded
}

func (b Block) String() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

var exampleMarker = regexp.MustCompile(`^<!--\s*example:\s*(Example\w*)\s*-->$`)

// GoBlocks returns the ```go blocks of the Markdown file name.
func GoBlocks(name string) ([]Block, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks   []Block
		cur      *Block
		inFence  bool
		fence    string
		previous string
		lines    []string
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !inFence && strings.HasPrefix(trimmed, "```"):
			inFence, fence = true, trimmed[:strings.LastIndex(trimmed, "`")+1]
			if strings.TrimSpace(strings.TrimPrefix(trimmed, fence)) == "go" {
				cur = &Block{File: name, Line: n}
				if m := exampleMarker.FindStringSubmatch(strings.TrimSpace(previous)); m != nil {
					cur.Example = m[1]
				}
				lines = lines[:0]
			}
		case inFence && trimmed == fence:
			inFence = false
			if cur != nil {
				cur.Code = strings.Join(lines, "\n")
				blocks = append(blocks, *cur)
				cur = nil
			}
		case cur != nil:
			lines = append(lines, line)
		}
		previous = line
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if inFence {
		return nil, fmt.Errorf("%s: a code fence is never closed", name)
	}
	return blocks, nil
}

// IsFile reports whether the block is a complete Go file: its first line
// that is not blank or a comment starts with "package ".
func (b Block) IsFile() bool {
	for _, line := range strings.Split(b.Code, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		return strings.HasPrefix(line, "package ")
	}
	return false
}
