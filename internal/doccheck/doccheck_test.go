package doccheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/internal/doccheck"
)

const root = "../.."

// markdown returns README.md and docs/*.md.
func markdown(t *testing.T) []string {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// check runs doccheck.Check and fails the test on an error of its own.
func check(t *testing.T, files []string) []error {
	problems, err := doccheck.Check(root, files)
	require.NoError(t, err)
	return problems
}

// TestDocumentationGoBlocksCompile is the rule for README.md and docs/*.md:
// every ```go block builds, or is an Example's source verbatim.
func TestDocumentationGoBlocksCompile(t *testing.T) {
	for _, err := range check(t, markdown(t)) {
		t.Error(err)
	}
}

// writeDoc writes a Markdown file for the drift tests into a directory of
// the test's own.
func writeDoc(t *testing.T, text string) string {
	name := filepath.Join(t.TempDir(), "doc.md")
	require.NoError(t, os.WriteFile(name, []byte(text), 0o644))
	return name
}

func TestDocumentationDriftIsCaught(t *testing.T) {
	examples, err := doccheck.Examples(root)
	require.NoError(t, err)
	require.Len(t, examples["ExampleServer_Client"], 1)
	exampleSource := examples["ExampleServer_Client"][0]
	tests := []struct {
		name, doc string
		problem   string // "" when the document is correct
	}{
		{"example verbatim", "<!-- example: ExampleServer_Client -->\n```go\n" + exampleSource + "\n```\n", ""},
		{"example changed by one character", "<!-- example: ExampleServer_Client -->\n```go\n" +
			replaceOnce(exampleSource, "FailNext(2", "FailNext(3") + "\n```\n", "differs from ExampleServer_Client at its line 7"},
		{"example missing a line", "<!-- example: ExampleServer_Client -->\n```go\n" +
			replaceOnce(exampleSource, "\tdefer fake.Close()\n", "") + "\n```\n", "differs from ExampleServer_Client"},
		{"example that does not exist", "<!-- example: ExampleNoSuchThing -->\n```go\nfunc ExampleNoSuchThing() {}\n```\n", "no function ExampleNoSuchThing"},
		{"marker not directly above", "<!-- example: ExampleServer_Client -->\n\n```go\n" + exampleSource + "\n```\n", "must start with `package`"},
		{"snippet", "```go\nclient.StartTracking(ctx, c)\n```\n", "must start with `package`"},
		{"file that builds", "```go\npackage main\n\nimport \"github.com/blueshift-go/blueshift/outbox\"\n\nvar _ = outbox.SQLite\n\nfunc main() {}\n```\n", ""},
		{"file that does not build", "```go\npackage main\n\nimport \"github.com/blueshift-go/blueshift\"\n\nvar _ = blueshift.NoSuchName\n\nfunc main() {}\n```\n", "undefined: blueshift.NoSuchName"},
		{"other languages are not Go", "```sh\ngo test ./...\n```\n\n```text\nnot go\n```\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := check(t, []string{writeDoc(t, tt.doc)})
			if tt.problem == "" {
				assert.Empty(t, problems)
				return
			}
			require.Len(t, problems, 1)
			assert.Contains(t, problems[0].Error(), tt.problem)
		})
	}
}

func TestGoBlocksFindsFencesAndMarkers(t *testing.T) {
	name := writeDoc(t, "# t\n\n<!-- example: ExampleA -->\n```go\nfunc ExampleA() {\n}\n```\n\n````md\n```go\nnested, not a block\n```\n````\n\n```go\npackage x\n```\n")
	blocks, err := doccheck.GoBlocks(name)
	require.NoError(t, err)
	require.Len(t, blocks, 2)
	assert.Equal(t, doccheck.Block{File: name, Line: 4, Example: "ExampleA", Code: "func ExampleA() {\n}"}, blocks[0])
	assert.Equal(t, doccheck.Block{File: name, Line: 15, Code: "package x"}, blocks[1])
	assert.True(t, blocks[1].IsFile())
	assert.False(t, blocks[0].IsFile())
}

func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("no " + old)
	}
	return strings.Replace(s, old, new, 1)
}
