/*
 * store.h - loading user_logins rows into PostgreSQL, exactly once per
 * SQS message, at COPY speed.
 *
 * A batch of rows is stored in one transaction:
 *
 *   BEGIN;
 *   SELECT ... FROM user_logins_ledger WHERE message_key = ANY ($1)
 *                                      -- keys of redeliveries only
 *   COPY user_logins_ledger FROM STDIN (FORMAT binary)   -- new keys
 *   COPY user_logins FROM STDIN (FORMAT binary)          -- their rows
 *   COMMIT;
 *
 * The ledger (user_logins_ledger) holds one key per stored message
 * (ledger.h: SentTimestamp in ms and 80 bits of SHA-256 of the id) under
 * a primary key.  The key is the only arbiter: a message is stored only
 * by the transaction that files its key, and a key filed before, or by
 * another loader meanwhile, refuses the COPY (after waiting for that
 * loader's transaction); the keys are then undone to a savepoint, looked
 * up and filed again.  So the check costs one index probe per message
 * looked up, whatever the ledger holds, and loaders with different
 * messages never wait for each other.  Rows without a message id are
 * stored as they come.
 *
 * A row the server refuses (a constraint or trigger a DBA added, a value
 * out of range) does not sink its batch: the batch is split in halves
 * under savepoints until the refused rows are isolated, and the rest is
 * stored.  Refused rows and pii-mask's rejects are upserted into
 * user_logins_rejects (message id, reason, receive count, first and last
 * seen) in the same transaction.
 *
 * When the connection breaks, the server restarts or the transaction is
 * chosen as a deadlock victim, the batch is redone on a fresh connection
 * with backoff, until a deadline or for as long as it takes; after a
 * COMMIT whose outcome is unknown the ledger makes the redo harmless.
 *
 * No value is spliced into SQL: rows travel as binary COPY data, keys as
 * binary statement parameters.  Reasons name the condition and
 * constraint, never a value.
 *
 * Errors: functions return -1 (or NULL) and keep the message for
 * store_error(); nothing here exits or prints.
 */
#ifndef STORE_H
#define STORE_H

#include <signal.h>
#include <stddef.h>

#include "ndjson.h"
#include "obuf.h"
#include "outage.h"

struct store;
struct store_item;

/*
 * A batch being gathered.  It is separate from the connection so that a
 * tool can fill one batch while another is being stored.  Zero-initialise
 * it; store_batch_free() releases it.
 */
struct store_batch {
	struct store_item *items;
	size_t nitems, cap;
	struct obuf text;	/* ids and handles */
	struct obuf data;	/* binary COPY tuples */
	struct obuf reasons;	/* pii-mask's reasons, then the server's */
	size_t reasons_base;	/* length of reasons before an attempt */
};

struct store_row {
	struct ndjson_ids ids;
	struct ndjson_text user_id, device_type, masked_ip, masked_device_id,
	    locale;
	int has_app_version;
	long app_version;		/* within a PostgreSQL integer */
	int has_create_date;
	int create_year, create_month, create_day;	/* a real date */
};

/* The fate of one item of a committed batch, in input order. */
struct store_result {
	const struct ndjson_ids *ids;
	const char *reason;	/* NULL: stored (or stored before): acknowledge */
	size_t reason_len;
	int refused;		/* the server refused the row (not pii-mask) */
	int duplicate;		/* acknowledged, but stored before */
	const char *line;	/* a reject's line as added, or NULL */
	size_t line_len;
};

typedef void store_result_fn(void *ctx, const struct store_result *r);

struct store_options {
	const char *conninfo;	/* libpq's; "" or NULL: the PG* environment */
	long retry_ms;		/* how long to retry; < 0: without a limit */
	/* Once *stop is set, retrying without a limit ends within
	 * STORE_STOP_RETRY_MS: a drain ends. */
	volatile sig_atomic_t *stop;
	struct outage *outage;	/* NULL: none (outage.h) */
};

#define STORE_STOP_RETRY_MS 10000

/* Connects.  A server that does not answer, or is starting or stopping,
 * is waited for as o->retry_ms says; one that answers and refuses (a
 * password, a missing database) fails at once.  A failed batch is redone
 * as long.  Failures retried and answers are reported to o->outage (a
 * broken connection as the server away, a deadlock as a retry only).
 * Returns NULL with a message in err. */
struct store *store_open(const struct store_options *o, char *err,
    size_t errlen);

void store_close(struct store *s);

/* Creates user_logins, the ledger and the rejects table if missing.
 * Returns 0 or -1. */
int store_create(struct store *s);

/* Deletes from the ledger, a short transaction per 10,000 entries, the
 * entries of messages sent before before_ms (ms since the epoch); the
 * entries of messages whose SentTimestamp was unknown stay.  Safe while
 * loaders run, as long as no message sent before before_ms can still be
 * delivered.  Returns 0 and the count in *deleted, or -1. */
int store_prune(struct store *s, long long before_ms, long long *deleted);

/* Adds a row, or a reject with its reason, to the batch (copies them).
 * A reject's line, as read, is handed back in its result so that it can
 * be passed on unchanged.  Returns 0, or -1 when memory is short. */
int store_add_row(struct store_batch *b, const struct store_row *r);
int store_add_reject(struct store_batch *b, const struct ndjson_ids *ids,
    const char *reason, size_t len, const char *line, size_t line_len);


void store_batch_free(struct store_batch *b);

/*
 * Stores the batch and empties it.  Once COMMIT has succeeded, calls fn
 * for every item in input order and returns 0.  Returns -1 when the batch
 * could not be stored before the deadline or failed in a way retrying
 * cannot mend; then nothing of it may be assumed stored, fn is not
 * called, and the batch is dropped.
 */
int store_commit(struct store *s, struct store_batch *b, store_result_fn *fn,
    void *ctx);

/* What went wrong last, in one line. */
const char *store_error(const struct store *s);

#endif
