/*
 * store.h - loading user_logins rows into PostgreSQL, exactly once per
 * SQS message.
 *
 * Rows are gathered into a batch and stored in one transaction: COPY into
 * a session-local staging table, then one statement that records every
 * message_id in the ledger table (primary key) and inserts only the rows
 * whose message_id was not there yet, then COMMIT.  A redelivered message
 * finds its id in the ledger and is not stored again; two loaders racing
 * on one id serialise on the ledger's key, and the second stores nothing.
 * Rows without a message_id are stored as they come.
 *
 * No value is ever spliced into SQL: rows travel as COPY data, and the
 * statements are fixed text.  Server errors are reported tersely (the
 * primary message), which never quotes a row.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>

struct store;

/* A string value; NULL s is SQL NULL. */
struct store_text {
	const char *s;
	size_t n;
};

struct store_row {
	struct store_text message_id;
	struct store_text user_id, device_type, masked_ip, masked_device_id,
	    locale, create_date;
	int has_app_version;
	long app_version;
};

/* Connects with a libpq conninfo string ("" or NULL: the PG* environment).
 * Returns NULL with a message in err. */
struct store *store_open(const char *conninfo, char *err, size_t errlen);

void store_close(struct store *s);

/* Creates user_logins and the ledger if missing.  Returns 0 or -1. */
int store_create(struct store *s);

/* Adds a row to the batch.  Text must hold no NUL byte.  Returns 0, or
 * -1 when memory is short. */
int store_add(struct store *s, const struct store_row *r);

size_t store_batch_rows(const struct store *s);
size_t store_batch_bytes(const struct store *s);

/*
 * Stores the batch in one transaction and empties it.  Returns 0 once
 * COMMIT has succeeded, with *inserted set to the rows actually added
 * (redelivered ones are not); -1 when anything failed, in which case
 * nothing of the batch may be assumed stored.
 */
int store_commit(struct store *s, long *inserted);

/* What went wrong last, in one line. */
const char *store_error(const struct store *s);

#endif
