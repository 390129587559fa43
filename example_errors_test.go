package blueshift_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

func ExampleClient_StartTracking_errors() {
	fake := blueshifttest.NewServer() // stands in for Blueshift here
	defer fake.Close()
	fake.FailNext(100, 503) // an outage that outlasts the deadline below
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
		blueshift.WithRetryWait(400*time.Millisecond, 400*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})

	var reqErr *blueshift.RequestError
	var apiErr *blueshift.APIError
	switch {
	case err == nil:
		fmt.Println("done")
	case errors.Is(err, blueshift.ErrMissingIdentifier), errors.Is(err, blueshift.ErrInvalidIdentifier):
		fmt.Println("our data is wrong; nothing was sent")
	case errors.Is(err, context.Canceled):
		fmt.Println("we stopped it; it may have been applied: repeat it when we run again")
	case errors.As(err, &reqErr):
		// No final answer: a network error, an attempt timeout, our own
		// deadline (even while Blueshift answered 503s: reqErr.Last is then
		// that answer) or an empty retry budget. Test this before
		// errors.As(err, &apiErr), which also finds reqErr.Last.
		fmt.Println("no final answer; it may have been applied: retry later")
		if reqErr.Last != nil {
			fmt.Println("Blueshift's last answer:", reqErr.Last.StatusCode)
		}
	case errors.Is(err, blueshift.ErrUnauthorized), errors.Is(err, blueshift.ErrForbidden):
		fmt.Println("wrong API key, or the key of the other region")
	case blueshift.IsRetryable(err):
		fmt.Println("Blueshift still failing after every retry (409, 429, 5xx): retry later")
	case errors.As(err, &apiErr):
		fmt.Printf("Blueshift refused it: %d %s (request id %s)\n", apiErr.StatusCode, apiErr.Message, apiErr.RequestID)
	}
	// Output:
	// no final answer; it may have been applied: retry later
	// Blueshift's last answer: 503
}
