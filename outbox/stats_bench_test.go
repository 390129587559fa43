package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// BenchmarkStatsMillion (issue 19, item 3) fills each store with 1,000,000
// pending customers and measures, side by side in one run, Stats ("stats":
// counts kept by triggers, the oldest through an index) and the scan of
// the whole table that Stats ran before ("scan"):
//
//	go test -run '^$' -bench StatsMillion -benchtime 20x ./outbox/
func BenchmarkStatsMillion(b *testing.B) {
	for _, sc := range benchStores(b) {
		b.Run(sc.name, func(b *testing.B) {
			fake := blueshifttest.NewServer(blueshifttest.WithRecordLimit(0))
			defer fake.Close()
			ob := openOutbox(b, newClient(b, fake), sc.open(b))
			start := time.Now()
			require.NoError(b, fillMillion(context.Background(), ob))
			b.Logf("%s: 1,000,000 pending customers inserted in %v", sc.name, time.Since(start).Round(time.Second))
			// On Postgres the fill left one row of counts per customer: fold
			// them once, as Run and the first Stats would.
			start = time.Now()
			ob.compact(context.Background(), true)
			b.Logf("%s: counts compacted in %v", sc.name, time.Since(start).Round(time.Millisecond))
			b.Run("stats", func(b *testing.B) {
				for range b.N {
					st, err := ob.Stats(context.Background())
					require.NoError(b, err)
					require.Equal(b, 1_000_000, st.Pending)
				}
			})
			b.Run("scan", func(b *testing.B) {
				for range b.N {
					var pending, settling, dead int
					var oldest int64
					require.NoError(b, ob.db.QueryRow(scanStats).Scan(&pending, &settling, &dead, &oldest))
					require.Equal(b, 1_000_000, pending)
				}
			})
		})
	}
}
