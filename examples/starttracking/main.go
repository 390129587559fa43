// Command starttracking makes Blueshift track one customer again, the way
// a service does when that customer opts back in.
//
// With BLUESHIFT_API_KEY set it calls Blueshift (in BLUESHIFT_REGION, or at
// BLUESHIFT_BASE_URL). Without it, it starts the in-process fake from
// package blueshifttest and calls that, so it runs anywhere with no account:
//
//	go run ./examples/starttracking
//	BLUESHIFT_API_KEY=... go run ./examples/starttracking -email ann@example.com
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("starttracking", flag.ContinueOnError)
	flags.SetOutput(stderr)
	email := flags.String("email", "", "email of the customer to start tracking")
	customerID := flags.String("customer-id", "", "your external customer ID")
	timeout := flags.Duration("timeout", 2*time.Minute, "give up after this long, retries included")
	if err := flags.Parse(args); err != nil {
		return 2
	}

	var client *blueshift.Client
	var err error
	if os.Getenv("BLUESHIFT_API_KEY") == "" {
		fake := blueshifttest.NewServer()
		defer fake.Close()
		fmt.Fprintf(stderr, "BLUESHIFT_API_KEY is not set: using the in-process fake Blueshift at %s\n", fake.URL)
		if *email == "" && *customerID == "" {
			*email = "ann@example.com"
		}
		client, err = blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	} else {
		client, err = blueshift.NewClientFromEnv(blueshift.WithUserAgent("starttracking-example"))
	}
	if err != nil {
		fmt.Fprintln(stderr, "starttracking:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	resp, err := client.StartTracking(ctx, blueshift.Customer{Email: *email, CustomerID: *customerID})
	if err != nil {
		fmt.Fprintln(stderr, "starttracking:", err)
		return 1
	}
	fmt.Fprintf(stdout, "tracking started: status %d %q, request id %s, %d attempt(s)\n",
		resp.StatusCode, resp.Status, resp.RequestID, resp.Attempts)
	return 0
}
