package blueshift

import (
	"context"
)

// Response is Blueshift's answer to a successful (2xx) call.
type Response struct {
	// StatusCode is the HTTP status, 200 in practice.
	StatusCode int
	// Status is the "status" member of the JSON body ("ok"), or "" when the
	// body had none; any 2xx counts as success whatever its body.
	Status string
	// RequestID is the X-Request-Id response header, when Blueshift sent one.
	RequestID string
	// Attempts is how many requests the call sent (1 unless it was retried).
	Attempts int
	// Uncertain is how many attempts of the call may have been applied by
	// Blueshift without a definite answer: a request sent that got no
	// response (attempt timeout, connection reset or EOF, the caller's
	// deadline) or got a 5xx. Blueshift may still apply such a request
	// later; a 2xx, 429 or other 4xx answer is definite.
	Uncertain int
}

// Paths of the customer-tracking endpoints.
const (
	startTrackingPath = "/api/v1/customers/unforget"
	stopTrackingPath  = "/api/v1/customers/forget"
)

// StartTracking makes Blueshift track the customer again, so that they are
// eligible for campaigns: call it when a customer opts back in. It sends
// POST /api/v1/customers/unforget. Data deleted earlier by StopTracking is
// not restored; the customer starts again as a new profile. The call is
// idempotent, so it is retried on transient failures.
//
// It returns, without sending anything, ErrMissingIdentifier if every
// identifier of the customer is blank, or an error matching
// ErrInvalidIdentifier if one is malformed (see Customer.Validate);
// otherwise an *APIError for any non-2xx answer, or a *RequestError when
// the call ended without a final answer (network failure, attempt timeout,
// cancelled context). A call that failed may still have been applied by
// Blueshift: both calls are safe to repeat.
func (c *Client) StartTracking(ctx context.Context, customer Customer) (*Response, error) {
	return c.sendCustomer(ctx, startTrackingPath, customer)
}

// StopTracking makes Blueshift forget the customer: it sends POST
// /api/v1/customers/forget, and Blueshift then permanently deletes the
// customer's personal data, in the background, and stops tracking them.
// StartTracking does not bring that data back. Call it when a customer
// asks to be forgotten or opts out. The call is idempotent, so it is
// retried on transient failures; its errors are those of StartTracking.
func (c *Client) StopTracking(ctx context.Context, customer Customer) (*Response, error) {
	return c.sendCustomer(ctx, stopTrackingPath, customer)
}

// sendCustomer validates customer and posts it to path.
func (c *Client) sendCustomer(ctx context.Context, path string, customer Customer) (*Response, error) {
	customer = customer.Trimmed()
	if err := customer.validateTrimmed(); err != nil {
		return nil, err
	}
	return c.post(ctx, path, customer.jsonBody(), customer.identifiers())
}
