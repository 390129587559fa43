// Package blueshift is a client for Blueshift's customer-tracking API.
//
// A service calls [Client.StartTracking] when a customer opts back in, and
// [Client.StopTracking] when a customer asks to be forgotten:
//
//	client, err := blueshift.NewClient(os.Getenv("BLUESHIFT_API_KEY"), blueshift.WithRegion(blueshift.RegionEU))
//	if err != nil {
//		return err
//	}
//	resp, err := client.StartTracking(ctx, blueshift.Customer{Email: "ann@example.com"})
//
// The client authenticates with HTTP Basic auth (the User API key as user
// name, an empty password), validates that an identifier is present before
// anything is sent, retries the statuses Blueshift says are transient (409,
// 429, 500, 502, 503, 504) and network errors with jittered exponential
// backoff, and turns every other answer into an [*APIError] that callers
// inspect with [errors.Is] (against the Err… sentinels) and [errors.As].
//
// The API key is sent only to the configured host, redirects are never
// followed, and neither the key nor a customer's identifiers appear in log
// lines or in any print of a value the package returns (errors and
// [Client], under every fmt verb, through log/slog or testify). With no
// [WithLogger] option the package itself writes nothing anywhere; net/http
// may still write to the standard logger (docs/security.md says when, and
// how to silence it).
//
// A [Client] is safe for concurrent use by many goroutines; create one per
// process and share it.
//
// Package [github.com/blueshift-go/blueshift/blueshifttest] is an in-process
// fake of Blueshift for testing code that uses this package.
package blueshift
