package resultsfile

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
)

// FuzzReadResults reads any bytes as a results file for --resume: it
// never panics, keeps one entry per line in increasing order, and reads
// back exactly what the writer wrote for records appended after them.
func FuzzReadResults(f *testing.F) {
	f.Add([]byte(`{"version":1,"command":"start-tracking","base_url":"https://api.getblueshift.com"}`+"\n"+`{"line":2,"email":"a","outcome":"ok"}`+"\n"), "a\x40b", int64(3))
	f.Add([]byte(`{"line":2}`+"\n"), "", int64(1))
	f.Add([]byte(`{"command":"x"}`+"\n"+`{"line":2,"outcome":"ok"`), "\xff", int64(9))
	f.Fuzz(func(t *testing.T, data []byte, id string, line int64) {
		h, ix, err := Read(context.Background(), bytes.NewReader(data))
		if err != nil {
			return
		}
		require.NotEmpty(t, h.Command)
		for i := 1; i < len(ix.entries); i++ {
			require.Less(t, ix.entries[i-1].line, ix.entries[i].line)
		}
		if line <= 0 || line > 1<<40 || !bytes.HasSuffix(data, []byte("\n")) {
			return
		}
		rec := input.Record{Line: line, Customer: blueshift.Customer{Email: id, CustomerID: strings.ToUpper(id)}}
		var buf bytes.Buffer
		buf.Write(data)
		require.NoError(t, NewWriter(&buf).Append(NewResult(rec, OutcomeOK, "ok")))
		_, ix, err = Read(context.Background(), &buf)
		require.NoError(t, err)
		require.Equal(t, OutcomeOK, ix.cursor().Lookup(rec), "the appended ok record is found again")
	})
}
