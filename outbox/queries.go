package outbox

// queries are the statements an Outbox runs, rewritten for one dialect.
// A row's status is 1 pending, 2 dead (a delivered customer's row is
// deleted); its state 1 tracked, 0 forgotten. A pending row with
// settle_at > 0 is settling: its latest state was delivered, and is sent
// once more at settle_at, after the late-apply window of an uncertain
// attempt of the other state (uncertain_start_at, uncertain_stop_at).
// Times are Unix milliseconds by the database's clock. A leased row is a
// pending row whose next_attempt_at lies in the future and whose
// lease_owner is set, so a lease expires by itself: the claim takes every
// pending row that is due, whether it waited for a backoff, a settle or a
// lease.
type queries struct {
	upsert, claim, deliveredDone, deliveredKeep, retry, dead, release, notSent, leaseLost, reclaim string
	stats, nextDue, listDead, retryDead, retryAllDead, discardDead                                 string
	// compact folds the rows of blueshift_outbox_counts into one (Postgres
	// only: SQLite keeps one row).
	compact string
}

// markUncertain records, when its two arguments say so, that an attempt
// of state 1 (first) or 0 (second) may still be applied by Blueshift.
const markUncertain = `uncertain_start_at = CASE WHEN ? = 1 THEN {now} ELSE uncertain_start_at END,
	uncertain_stop_at = CASE WHEN ? = 1 THEN {now} ELSE uncertain_stop_at END`

// lastUncertain is the last uncertain attempt of either state: while it
// lies within the window, the row (and so the mark) is kept. An attempt of
// the other state may still land after the latest; one of the same state
// must be remembered in case the other state is recorded next.
const lastUncertain = `(CASE WHEN uncertain_start_at > uncertain_stop_at THEN uncertain_start_at ELSE uncertain_stop_at END)`

// settleUntil is when a delivered row of version ? is done: the window
// (?) after the last uncertain attempt, or after now if this call had one
// (? = 1).
const settleUntil = `CASE WHEN ` + lastUncertain + ` + ? > CASE WHEN ? = 1 THEN {now} + ? ELSE 0 END
	THEN ` + lastUncertain + ` + ? ELSE {now} + ? END`

func buildQueries(sql func(string) string, claimSQL string) queries {
	return queries{
		// args: key, email, customer_id, cookie, device_id, state
		upsert: sql(`INSERT INTO blueshift_outbox (customer_key, email, customer_id, cookie, device_id, state, version,
			delivered_version, status, first_pending_at, next_attempt_at, attempts, lease_owner, changed_during_lease_at, last_error)
		VALUES (?, ?, ?, ?, ?, ?, 1, 0, 1, {now}, {now}, 0, '', 0, '')
		ON CONFLICT (customer_key) DO UPDATE SET
			email = excluded.email, customer_id = excluded.customer_id,
			cookie = excluded.cookie, device_id = excluded.device_id,
			state = excluded.state,
			version = blueshift_outbox.version + 1,
			status = 1, settle_at = 0,
			first_pending_at = CASE WHEN blueshift_outbox.status = 1 AND blueshift_outbox.settle_at = 0
				THEN blueshift_outbox.first_pending_at ELSE excluded.first_pending_at END,
			next_attempt_at = CASE WHEN blueshift_outbox.status = 1 AND blueshift_outbox.lease_owner <> ''
				AND blueshift_outbox.next_attempt_at > excluded.next_attempt_at
				THEN blueshift_outbox.next_attempt_at ELSE excluded.next_attempt_at END,
			changed_during_lease_at = CASE WHEN blueshift_outbox.lease_owner <> '' AND blueshift_outbox.changed_during_lease_at = 0
				THEN excluded.first_pending_at ELSE blueshift_outbox.changed_during_lease_at END,
			attempts = CASE WHEN blueshift_outbox.status = 1 THEN blueshift_outbox.attempts ELSE 0 END,
			last_error = CASE WHEN blueshift_outbox.status = 1 THEN blueshift_outbox.last_error ELSE '' END`),
		// args: owner, lease ms, limit
		claim: claimSQL,
		// args: key, owner, version, window ms, claimed at
		// The latest state is delivered by a call without uncertain
		// attempts, and no uncertain attempt lies within the window before
		// the delivery began: the customer is done, and forgotten.
		deliveredDone: sql(`DELETE FROM blueshift_outbox WHERE customer_key = ? AND lease_owner = ? AND version = ?
			AND ` + lastUncertain + ` + ? <= ?`),
		// args: uncertain start, uncertain stop, claimed at, version, 5 × settleUntil args, version, 5 × settleUntil args, version, version, key, owner
		// Either a newer change was recorded (pending again; it is now the
		// oldest undelivered) or the latest state settles until the window
		// of the last uncertain attempt has passed, and is then sent once
		// more.
		deliveredKeep: sql(`UPDATE blueshift_outbox SET ` + markUncertain + `, status = 1, delivered_at = ?,
			settle_at = CASE WHEN version = ? THEN ` + settleUntil + ` ELSE 0 END,
			next_attempt_at = CASE WHEN version = ? THEN ` + settleUntil + ` ELSE {now} END,
			first_pending_at = CASE WHEN version <> ? AND changed_during_lease_at > 0
				THEN changed_during_lease_at ELSE first_pending_at END,
			delivered_version = ?, lease_owner = '', attempts = 0, last_error = ''
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: uncertain start, uncertain stop, version, max age ms, version, backoff ms, error, key, owner
		retry: sql(`UPDATE blueshift_outbox SET ` + markUncertain + `,
			status = CASE WHEN version = ? AND settle_at = 0 AND first_pending_at + ? <= {now} THEN 2 ELSE 1 END,
			next_attempt_at = CASE WHEN version = ? THEN {now} + ? ELSE {now} END,
			attempts = attempts + 1, last_error = ?, lease_owner = ''
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: uncertain start, uncertain stop, version, error, key, owner
		dead: sql(`UPDATE blueshift_outbox SET ` + markUncertain + `,
			status = CASE WHEN version = ? THEN 2 ELSE 1 END, settle_at = 0,
			next_attempt_at = {now}, attempts = attempts + 1, last_error = ?, lease_owner = ''
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: uncertain start, uncertain stop, key, owner
		release: sql(`UPDATE blueshift_outbox SET ` + markUncertain + `, lease_owner = '', next_attempt_at = {now}
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: delay ms, key, owner
		// A call that sent no request: no attempt is counted.
		notSent: sql(`UPDATE blueshift_outbox SET lease_owner = '', next_attempt_at = {now} + ?
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: uncertain start, uncertain stop, key
		// Not lease-guarded: a worker that sent after losing its lease
		// records what it sent as uncertain and makes the customer due
		// again unless another worker holds it (whose outcome then sees
		// the mark). Any number of workers may race on it.
		leaseLost: sql(`UPDATE blueshift_outbox SET ` + markUncertain + `,
			next_attempt_at = CASE WHEN lease_owner = '' OR next_attempt_at <= {now} THEN {now} ELSE next_attempt_at END
		WHERE customer_key = ? AND status = 1`),
		// A lease taken over may belong to a call still in flight, or one a
		// killed process sent: its state is marked uncertain.
		reclaim: sql(`UPDATE blueshift_outbox SET lease_owner = '', next_attempt_at = {now},
			uncertain_start_at = CASE WHEN lease_state = 1 THEN {now} ELSE uncertain_start_at END,
			uncertain_stop_at = CASE WHEN lease_state = 0 THEN {now} ELSE uncertain_stop_at END
		WHERE status = 1 AND next_attempt_at > {now} AND lease_owner <> ''`),
		// The counts kept by triggers (see counts.go), how many rows hold
		// them, and the oldest pending change through its partial index.
		stats: sql(`SELECT COALESCE(SUM(pending), 0), COALESCE(SUM(settling), 0), COALESCE(SUM(dead), 0), COUNT(*),
			COALESCE((SELECT MIN(first_pending_at) FROM blueshift_outbox WHERE status = 1 AND settle_at = 0), {now}), {now}
		FROM blueshift_outbox_counts`),
		nextDue: sql(`SELECT COALESCE(MIN(next_attempt_at), {now} + 3600000) - {now} FROM blueshift_outbox WHERE status = 1`),
		// args: since, since, key, limit (keyset pages over the dead index)
		listDead: sql(`SELECT customer_key, email, customer_id, cookie, device_id, state, version, attempts, first_pending_at, last_error
		FROM blueshift_outbox WHERE status = 2 AND (first_pending_at > ? OR (first_pending_at = ? AND customer_key > ?))
		ORDER BY first_pending_at, customer_key LIMIT ?`),
		// args: key
		retryDead: sql(`UPDATE blueshift_outbox SET status = 1, next_attempt_at = {now}, first_pending_at = {now},
			attempts = 0, lease_owner = '', settle_at = 0
		WHERE customer_key = ? AND status = 2`),
		retryAllDead: sql(`UPDATE blueshift_outbox SET status = 1, next_attempt_at = {now}, first_pending_at = {now},
			attempts = 0, lease_owner = '', settle_at = 0
		WHERE status = 2`),
		// args: key
		discardDead: sql(`DELETE FROM blueshift_outbox WHERE customer_key = ? AND status = 2`),
	}
}

// claimSet is what a claim writes: the lease, the state it sends, and,
// when it takes over a lease that has not been given back, that lease's
// state marked uncertain (its call may still be in flight).
const claimSet = `SET lease_owner = ?, next_attempt_at = {now} + ?, changed_during_lease_at = 0, lease_state = state,
	uncertain_start_at = CASE WHEN lease_owner <> '' AND lease_state = 1 THEN {now} ELSE uncertain_start_at END,
	uncertain_stop_at = CASE WHEN lease_owner <> '' AND lease_state = 0 THEN {now} ELSE uncertain_stop_at END`

// sqliteClaim leases due rows; SQLite has one writer at a time.
const sqliteClaim = `UPDATE blueshift_outbox ` + claimSet + `
	WHERE customer_key IN (SELECT customer_key FROM blueshift_outbox
		WHERE status = 1 AND next_attempt_at <= {now}
		ORDER BY next_attempt_at LIMIT ?)
	RETURNING customer_key, email, customer_id, cookie, device_id, state, version, attempts, {now}, settle_at, delivered_at,
		CASE WHEN state = 1 THEN uncertain_stop_at ELSE uncertain_start_at END,
		first_pending_at`

// postgresClaim leases due rows that no other transaction holds. The rows
// are picked in a CTE, which Postgres runs once (an IN subquery may be
// rescanned and return more than LIMIT rows).
const postgresClaim = `WITH due AS (
		SELECT customer_key FROM blueshift_outbox
		WHERE status = 1 AND next_attempt_at <= {now}
		ORDER BY next_attempt_at LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE blueshift_outbox AS o ` + claimSet + `
	FROM due WHERE o.customer_key = due.customer_key
	RETURNING o.customer_key, o.email, o.customer_id, o.cookie, o.device_id, o.state, o.version, o.attempts, {now}, o.settle_at, o.delivered_at,
		CASE WHEN o.state = 1 THEN o.uncertain_stop_at ELSE o.uncertain_start_at END,
		o.first_pending_at`
