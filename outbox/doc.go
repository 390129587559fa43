// Package outbox delivers StartTracking and StopTracking changes to
// Blueshift durably: a change is written to a database table first (an
// "outbox"), and Run delivers it later, retrying through outages and
// restarts until Blueshift has it.
//
// For each customer the outbox keeps only the latest desired state,
// tracked or forgotten, with a version number that every recorded change
// bumps. Delivery always sends the latest state, and a delivery that
// completes for an older version never marks a newer one delivered.
// Blueshift cannot refuse a request applied late, so the outbox also
// makes sure the latest state is the last one it sends: after an attempt
// of the other state that may still be applied (no answer, or a 5xx; see
// blueshift.Response.Uncertain), or a request sent by a worker whose lease
// was lost, it sends the latest state again once WithLateApplyWindow has
// passed (Stats.Settling). Once a customer is done, its row is deleted:
// the outbox keeps no identifier of a delivered customer. What remains
// possible is a request applied later than the window, and a worker that
// stalls for longer than its lease plus the window right before a send and
// then dies before recording it; docs/outbox.md in the repository has the
// details and measurements.
//
// A customer is identified by all four identifiers together, trimmed as
// the client trims them and with the email lower-cased: {Email: a} and
// {Email: a, CustomerID: b} are two different customers to the outbox.
//
//	ob, err := outbox.Open(ctx, client, outbox.SQLite("outbox.db"))
//	...
//	go ob.Run(ctx)
//	err = ob.StopTracking(ctx, blueshift.Customer{Email: "ann@example.com"}) // durable once nil
package outbox
