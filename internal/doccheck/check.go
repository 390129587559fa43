package doccheck

import "fmt"

// Check applies the rule to every ```go block of the Markdown files, with
// the Examples of the _test.go files under root, and returns every problem
// found: an Example block that differs from its function, a block that is
// neither a Go file nor an Example, and the build errors of the Go files.
func Check(root string, files []string) ([]error, error) {
	examples, err := Examples(root)
	if err != nil {
		return nil, err
	}
	var goFiles []Block
	var problems []error
	for _, name := range files {
		blocks, err := GoBlocks(name)
		if err != nil {
			return nil, err
		}
		for _, b := range blocks {
			switch {
			case b.Example != "":
				if err := CheckExample(b, examples); err != nil {
					problems = append(problems, err)
				}
			case b.IsFile():
				goFiles = append(goFiles, b)
			default:
				problems = append(problems, fmt.Errorf("%s: a ```go block must start with `package` or have <!-- example: ExampleX --> directly above it (use ```text for a fragment)", b))
			}
		}
	}
	if err := BuildFiles(root, goFiles); err != nil {
		problems = append(problems, err)
	}
	return problems, nil
}
