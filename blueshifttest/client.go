package blueshifttest

import (
	"time"

	"github.com/blueshift-go/blueshift"
)

// Retry waits of a Client made by Server.Client: the backoff between
// attempts stays within [TestRetryWaitMin, TestRetryWaitMax], so a test of a
// retry path (FailNext, DropNext) finishes in milliseconds instead of the
// seconds of the production defaults (1 s to 30 s).
const (
	TestRetryWaitMin = time.Millisecond
	TestRetryWaitMax = 10 * time.Millisecond
)

// Client returns a *blueshift.Client made for tests against s: it calls s's
// URL with s's APIKey, waits between retries only TestRetryWaitMin to
// TestRetryWaitMax, and has no rate limit. Everything else is the
// production default (4 retries, a 30 s attempt timeout, the retry budget),
// so a test sees the retries, errors and attempt counts production code
// sees. opts are applied after these settings and win over them, for
// example blueshift.WithRetryMax(0) to see the first failure.
//
// Client panics if an option is invalid, as a test cannot go on without its
// client; the message is the option's error.
func (s *Server) Client(opts ...blueshift.Option) *blueshift.Client {
	all := append([]blueshift.Option{
		blueshift.WithBaseURL(s.URL),
		blueshift.WithRetryWait(TestRetryWaitMin, TestRetryWaitMax),
	}, opts...)
	client, err := blueshift.NewClient(s.APIKey, all...)
	if err != nil {
		panic(err)
	}
	return client
}
