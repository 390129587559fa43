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

func ExampleNewClient() {
	// In production: blueshift.NewClient(os.Getenv("BLUESHIFT_API_KEY"), blueshift.WithRegion(blueshift.RegionEU))
	client, err := blueshift.NewClient("your-user-api-key",
		blueshift.WithRegion(blueshift.RegionEU),
		blueshift.WithUserAgent("billing-service/2.1"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client)
	// Output: blueshift.Client{baseURL: https://api.eu.getblueshift.com, key: [redacted]}
}

func ExampleClient_StartTracking() {
	fake := blueshifttest.NewServer() // stands in for Blueshift here
	defer fake.Close()
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, resp.Status, resp.RequestID, resp.Attempts)
	// Output: 200 ok fake-00000001 1
}

func ExampleAPIError() {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.FailNext(1, 401) // as if the key belonged to the other region
	client, _ := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))

	_, err := client.StartTracking(context.Background(), blueshift.Customer{CustomerID: "CUST-12345"})
	switch {
	case errors.Is(err, blueshift.ErrUnauthorized):
		fmt.Println("check the API key and region")
	case errors.Is(err, blueshift.ErrRateLimited):
		fmt.Println("slow down")
	}
	var apiErr *blueshift.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Message, apiErr.RequestID, apiErr.Retryable())
	}
	fmt.Println(err)
	// Output:
	// check the API key and region
	// 401 Not authorized fake-00000001 false
	// blueshift: 401 Unauthorized: Not authorized (request id fake-00000001)
}

func ExampleClient_StopTracking() {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	client, _ := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))

	// The customer asked to be forgotten: Blueshift deletes their personal data.
	_, err := client.StopTracking(context.Background(), blueshift.Customer{CustomerID: "CUST-12345"})
	fmt.Println(err, fake.IsTracked(blueshift.Customer{CustomerID: "CUST-12345"}))
	// Output: <nil> false
}
