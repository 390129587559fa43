// Package outbox delivers StartTracking and StopTracking changes to
// Blueshift durably: a change is written to a database table first (an
// "outbox"), and Run delivers it later, retrying through outages and
// restarts until Blueshift has it.
//
// For each customer the outbox keeps only the latest desired state,
// tracked or forgotten, with a version number that every recorded change
// bumps. Delivery always sends the latest state, and a delivery that
// completes for an older version never marks a newer one delivered, so
// Blueshift ends in the state the customer asked for last, whatever the
// failures, crashes and concurrency.
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
