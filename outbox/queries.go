package outbox

// queries are the statements an Outbox runs, rewritten for one dialect.
// A row's status is 0 delivered, 1 pending, 2 dead; its state 1 tracked,
// 0 forgotten.
// Times are Unix milliseconds by the database's clock. A leased row is a
// pending row whose next_attempt_at lies in the future and whose
// lease_owner is set, so a lease expires by itself: the claim takes every
// pending row that is due, whether it waited for a backoff or for a lease.
type queries struct {
	upsert, claim, delivered, retry, dead, release, reclaim string
	stats, nextDue, listDead, retryDead                     string
}

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
			status = 1,
			first_pending_at = CASE WHEN blueshift_outbox.status = 1 THEN blueshift_outbox.first_pending_at ELSE excluded.first_pending_at END,
			next_attempt_at = CASE WHEN blueshift_outbox.status = 1 AND blueshift_outbox.lease_owner <> ''
				AND blueshift_outbox.next_attempt_at > excluded.next_attempt_at
				THEN blueshift_outbox.next_attempt_at ELSE excluded.next_attempt_at END,
			changed_during_lease_at = CASE WHEN blueshift_outbox.lease_owner <> '' AND blueshift_outbox.changed_during_lease_at = 0
				THEN excluded.first_pending_at ELSE blueshift_outbox.changed_during_lease_at END,
			attempts = CASE WHEN blueshift_outbox.status = 1 THEN blueshift_outbox.attempts ELSE 0 END,
			last_error = CASE WHEN blueshift_outbox.status = 1 THEN blueshift_outbox.last_error ELSE '' END`),
		// args: owner, lease ms, limit
		claim: claimSQL,
		// args: version, version, key, owner
		// A change recorded during the delivery is now the oldest undelivered.
		delivered: sql(`UPDATE blueshift_outbox SET status = CASE WHEN version = ? THEN 0 ELSE 1 END,
			first_pending_at = CASE WHEN version <> ? AND changed_during_lease_at > 0
				THEN changed_during_lease_at ELSE first_pending_at END,
			delivered_version = ?, lease_owner = '', next_attempt_at = {now}, attempts = 0, last_error = ''
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: version, max age ms, version, backoff ms, error, key, owner
		retry: sql(`UPDATE blueshift_outbox SET
			status = CASE WHEN version = ? AND first_pending_at + ? <= {now} THEN 2 ELSE 1 END,
			next_attempt_at = CASE WHEN version = ? THEN {now} + ? ELSE {now} END,
			attempts = attempts + 1, last_error = ?, lease_owner = ''
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: version, error, key, owner
		dead: sql(`UPDATE blueshift_outbox SET status = CASE WHEN version = ? THEN 2 ELSE 1 END,
			next_attempt_at = {now}, attempts = attempts + 1, last_error = ?, lease_owner = ''
		WHERE customer_key = ? AND lease_owner = ?`),
		// args: key, owner
		release: sql(`UPDATE blueshift_outbox SET lease_owner = '', next_attempt_at = {now}
		WHERE customer_key = ? AND lease_owner = ?`),
		reclaim: sql(`UPDATE blueshift_outbox SET lease_owner = '', next_attempt_at = {now}
		WHERE status = 1 AND next_attempt_at > {now} AND lease_owner <> ''`),
		stats: sql(`SELECT
			COALESCE(SUM(CASE WHEN status = 1 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END), 0),
			COALESCE(MIN(CASE WHEN status = 1 THEN first_pending_at END), {now}), {now}
		FROM blueshift_outbox`),
		nextDue: sql(`SELECT COALESCE(MIN(next_attempt_at), {now} + 3600000) - {now} FROM blueshift_outbox WHERE status = 1`),
		// args: limit
		listDead: sql(`SELECT email, customer_id, cookie, device_id, state, version, attempts, first_pending_at, last_error
		FROM blueshift_outbox WHERE status = 2 ORDER BY first_pending_at LIMIT ?`),
		// args: key
		retryDead: sql(`UPDATE blueshift_outbox SET status = 1, next_attempt_at = {now}, first_pending_at = {now},
			attempts = 0, lease_owner = ''
		WHERE customer_key = ? AND status = 2`),
	}
}

// sqliteClaim leases due rows; SQLite has one writer at a time.
const sqliteClaim = `UPDATE blueshift_outbox SET lease_owner = ?, next_attempt_at = {now} + ?, changed_during_lease_at = 0
	WHERE customer_key IN (SELECT customer_key FROM blueshift_outbox
		WHERE status = 1 AND next_attempt_at <= {now}
		ORDER BY next_attempt_at LIMIT ?)
	RETURNING customer_key, email, customer_id, cookie, device_id, state, version, attempts`

// postgresClaim leases due rows that no other transaction holds. The rows
// are picked in a CTE, which Postgres runs once (an IN subquery may be
// rescanned and return more than LIMIT rows).
const postgresClaim = `WITH due AS (
		SELECT customer_key FROM blueshift_outbox
		WHERE status = 1 AND next_attempt_at <= {now}
		ORDER BY next_attempt_at LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE blueshift_outbox AS o SET lease_owner = $1, next_attempt_at = {now} + $2, changed_during_lease_at = 0
	FROM due WHERE o.customer_key = due.customer_key
	RETURNING o.customer_key, o.email, o.customer_id, o.cookie, o.device_id, o.state, o.version, o.attempts`
