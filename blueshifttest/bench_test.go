package blueshifttest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// BenchmarkRetryPathTest times the README's testing example (two 503s
// absorbed by the client's retries, against the fake) with a client made by
// blueshift.NewClient with the production retry waits, and with one made by
// Server.Client, side by side:
//
//	go test -run '^$' -bench RetryPathTest -benchtime 5x ./blueshifttest
func BenchmarkRetryPathTest(b *testing.B) {
	clients := []struct {
		name string
		make func(*blueshifttest.Server) (*blueshift.Client, error)
	}{
		{"NewClient_defaults", func(fake *blueshifttest.Server) (*blueshift.Client, error) {
			return blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
		}},
		{"Server.Client", func(fake *blueshifttest.Server) (*blueshift.Client, error) {
			return fake.Client(), nil
		}},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				fake := blueshifttest.NewServer()
				client, err := c.make(fake)
				if err != nil {
					b.Fatal(err)
				}
				fake.FailNext(2, http.StatusServiceUnavailable)
				resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
				if err != nil || resp.Attempts != 3 {
					b.Fatalf("err %v, %+v", err, resp)
				}
				fake.Close()
			}
		})
	}
}
