package blueshifttest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// optInHandler is the code under test: a user's consent endpoint that
// starts tracking the customer in Blueshift.
func optInHandler(client *blueshift.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, err := client.StartTracking(r.Context(), blueshift.Customer{Email: r.FormValue("email")})
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func consentRequest(email string) *http.Request {
	r := httptest.NewRequest("POST", "/consent", strings.NewReader("email="+email))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func ExampleNewServer() {
	// In a test: start the fake, point the SDK at it, drive your handler.
	fake := blueshifttest.NewServer()
	defer fake.Close()
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL), blueshift.WithRetryMax(0))
	if err != nil {
		panic(err)
	}
	handler := optInHandler(client)

	rec := httptest.NewRecorder()
	handler(rec, consentRequest("ann@example.com"))
	fmt.Println(rec.Code, fake.IsTracked(blueshift.Customer{Email: "ann@example.com"}))

	// Blueshift is down: the handler must say so, and nothing is tracked.
	fake.FailNext(1, http.StatusServiceUnavailable)
	rec = httptest.NewRecorder()
	handler(rec, consentRequest("bob@example.com"))
	fmt.Println(rec.Code, fake.IsTracked(blueshift.Customer{Email: "bob@example.com"}))
	// Output:
	// 204 true
	// 503 false
}

func ExampleServer_Client() {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	client := fake.Client() // the fake's URL and key, millisecond retry waits

	// Two 503s then a success: the client's retries absorb them in milliseconds.
	fake.FailNext(2, http.StatusServiceUnavailable)
	resp, err := client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	fmt.Println(err, resp.Attempts, fake.IsTracked(blueshift.Customer{Email: "ann@example.com"}))
	// Output: <nil> 3 true
}
