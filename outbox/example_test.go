package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/outbox"
)

// ExampleOutbox_Dead lists the dead entries, oldest first, and retries or
// discards each: here Blueshift refused one change for good (a 400).
func ExampleOutbox_Dead() {
	ctx := context.Background()
	fake := blueshifttest.NewServer() // stands in for Blueshift
	defer fake.Close()
	client, _ := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL), blueshift.WithRetryMax(0))
	dir, _ := os.MkdirTemp("", "outbox")
	defer os.RemoveAll(dir)
	ob, err := outbox.Open(ctx, client, outbox.SQLite(filepath.Join(dir, "outbox.db")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ob.Close()
	fake.FailNext(1, http.StatusBadRequest)
	_ = ob.StopTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	runCtx, stop := context.WithCancel(ctx)
	go ob.Run(runCtx)
	for st, _ := ob.Stats(ctx); st.Dead == 0; st, _ = ob.Stats(ctx) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()

	for e, err := range ob.Dead(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("dead:", e.Tracked, e.Attempts, e.LastError[:len("blueshift: 400")])
		if err := ob.Discard(ctx, e.Customer); err != nil { // or ob.Retry(ctx, e.Customer)
			fmt.Println(err)
		}
	}
	n, _ := ob.RetryAll(ctx) // every dead entry left
	fmt.Println("retried:", n)
	// Output:
	// dead: false 1 blueshift: 400
	// retried: 0
}
