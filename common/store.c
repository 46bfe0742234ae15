/*
 * store.c - exactly-once batch loading into PostgreSQL.  See store.h.
 */
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "backoff.h"
#include "copybin.h"
#include "ledger.h"
#include "obuf.h"
#include "store.h"
#include "strset.h"

#define NONE ((size_t)-1)	/* offset of a NULL string */
#define UUID_OID 2950		/* pg_type.oid of uuid */
#define BACKOFF_CAP_MS 2000

static const char create_sql[] =
    "SELECT pg_advisory_xact_lock(hashtext('fetch-awards schema'));"
    "SET LOCAL client_min_messages = warning;"	/* no "already exists" */
    "CREATE TABLE IF NOT EXISTS user_logins ("
    " user_id varchar(128), device_type varchar(32),"
    " masked_ip varchar(256), masked_device_id varchar(256),"
    " locale varchar(32), app_version integer, create_date date);"
    "CREATE TABLE IF NOT EXISTS user_logins_ledger_meta ("
    " second_keys_before_ms bigint NOT NULL);"
    /* A ledger of the 0.2 layout (one row per second, an array of ids)
     * is converted in place: each id gets the key of ledger.h, with its
     * second, and messages sent until now keep second keys. */
    "DO $$ BEGIN"
    " IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid ="
    "  to_regclass('user_logins_ledger') AND attname = 'sent_second') THEN"
    "  ALTER TABLE user_logins_ledger RENAME TO user_logins_ledger_0_2;"
    "  CREATE TABLE user_logins_ledger (message_key uuid PRIMARY KEY);"
    "  INSERT INTO user_logins_ledger SELECT DISTINCT (lpad(to_hex("
    "   greatest(l.sent_second, 0) * 1000), 12, '0') || substr(encode("
    "   sha256(convert_to(i, 'UTF8')), 'hex'), 1, 20))::uuid"
    "   FROM user_logins_ledger_0_2 l, unnest(l.message_ids) i;"
    "  INSERT INTO user_logins_ledger_meta SELECT"
    "   (extract(epoch FROM now()) * 1000)::bigint + 1000;"
    "  DROP TABLE user_logins_ledger_0_2;"
    " END IF; END $$;"
    "CREATE TABLE IF NOT EXISTS user_logins_ledger ("
    " message_key uuid PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS user_logins_rejects ("
    " message_id text PRIMARY KEY, reason text NOT NULL,"
    " receive_count integer,"
    " first_seen timestamptz NOT NULL DEFAULT now(),"
    " last_seen timestamptz NOT NULL DEFAULT now());";

/* $1: the keys of the batch's messages.  Which are filed already? */
static const char probe_sql[] =
    "SELECT message_key FROM user_logins_ledger"
    " WHERE message_key = ANY ($1::uuid[])";

/* Messages sent before this kept 0.2 keys (ledger.h). */
static const char meta_sql[] =
    "SELECT coalesce(max(second_keys_before_ms), 0)"
    " FROM user_logins_ledger_meta";

static const char unclaim_sql[] =
    "DELETE FROM user_logins_ledger WHERE message_key = ANY ($1::uuid[])";

static const char ledger_copy_sql[] =
    "COPY user_logins_ledger (message_key) FROM STDIN (FORMAT binary)";

/* Rows of the ledger older than $1 (a key), a chunk at a time: each
 * chunk is its own short transaction, so loaders never wait long. */
static const char prune_sql[] =
    "DELETE FROM user_logins_ledger WHERE ctid = ANY (ARRAY("
    "SELECT ctid FROM user_logins_ledger"
    " WHERE message_key >= '00000000-0001-0000-0000-000000000000'"
    " AND message_key < $1::uuid LIMIT 10000))";

static const char reject_sql[] =
    "INSERT INTO user_logins_rejects AS r (message_id, reason,"
    " receive_count) VALUES ($1, $2, $3::integer)"
    " ON CONFLICT (message_id) DO UPDATE SET reason = EXCLUDED.reason,"
    " receive_count = COALESCE(EXCLUDED.receive_count, r.receive_count),"
    " last_seen = now()";

static const char copy_sql[] =
    "COPY user_logins (user_id, device_type, masked_ip, masked_device_id,"
    " locale, app_version, create_date) FROM STDIN (FORMAT binary)";

enum fate {
	PENDING,	/* a row to store */
	DUPLICATE,	/* its message is stored already, or earlier in the batch */
	STORED,
	REFUSED,	/* the server refused the row */
	REJECTED,	/* pii-mask rejected it */
};

struct store_item {
	size_t mid, mid_len;	/* message id in text, or NONE */
	size_t rh, rh_len;	/* receipt handle in text, or NONE */
	long long sent;
	long receive_count;
	size_t tup, tup_len;	/* binary COPY tuple in data; 0 for rejects */
	size_t reason, reason_len;	/* in reasons */
	size_t line, line_len;	/* a reject's line, in text */
	int is_reject;
	enum fate fate;
	unsigned char key[LEDGER_KEY_LEN];	/* ledger key, with a message id */
};

/* How a statement failed. */
enum outcome {
	OK,
	ROW_ERROR,	/* the data of a row: isolate it */
	RETRY,		/* the connection or the moment: redo the batch */
	CONFLICT,	/* a key was filed already: look keys up, file again */
	FATAL,		/* the schema or the setup: stop */
};

struct store {
	PGconn *conn;
	long retry_ms;
	int prepared;		/* statements prepared on this connection */
	int probe_all;		/* look every key up (see attempt()) */
	long long before_ms;	/* second keys before this (ledger.h) */
	struct store_batch *b;	/* the batch being stored */
	struct strset ids;	/* message id -> item, per attempt */
	size_t *order;		/* items with ids, by ledger second */
	size_t norder;
	struct obuf p1;		/* a statement parameter being built */
	struct obuf ledger_rows;	/* binary COPY rows for the ledger */
	char err[512];
};

const char *
store_error(const struct store *s)
{
	return s->err;
}

/* Records the server's or the connection's error, in one line. */
static void
set_error(struct store *s, const char *what, const PGresult *res)
{
	const char *msg = res ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;
	char *nl;

	if (msg == NULL)
		msg = PQerrorMessage(s->conn);
	snprintf(s->err, sizeof(s->err), "%s: %s%s%s%s", what, msg,
	    state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
	if ((nl = strchr(s->err, '\n')) != NULL)
		*nl = '\0';
}

static enum outcome
classify(struct store *s, const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;

	if (PQstatus(s->conn) != CONNECTION_OK || st == NULL)
		return RETRY;
	/* 22 data exception, 23 integrity violation, P0001 a trigger's
	 * RAISE: the row's fault. */
	if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 ||
	    strcmp(st, "P0001") == 0)
		return ROW_ERROR;
	/* 08 connection, 40 serialization or deadlock, 53 resources,
	 * 57P operator intervention (shutdown, crash), 58 system. */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57P", 3) == 0 ||
	    strncmp(st, "58", 2) == 0)
		return RETRY;
	return FATAL;
}

/* Runs a statement that returns no data we need. */
static enum outcome
run(struct store *s, const char *what, const char *sql)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	enum outcome o = OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_error(s, what, res);
		o = classify(s, res);
	}
	PQclear(res);
	return o;
}

struct store *
store_open(const char *conninfo, long retry_ms, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->retry_ms = retry_ms;
	s->conn = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(s->conn) != CONNECTION_OK) {
		char *nl;

		snprintf(err, errlen, "connecting to PostgreSQL: %s",
		    PQerrorMessage(s->conn));
		if ((nl = strchr(err, '\n')) != NULL)
			*nl = '\0';
		store_close(s);
		return NULL;
	}
	PQsetErrorVerbosity(s->conn, PQERRORS_TERSE);
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	PQfinish(s->conn);
	obuf_free(&s->p1);
	obuf_free(&s->ledger_rows);
	strset_free(&s->ids);
	free(s->order);
	free(s);
}

int
store_create(struct store *s)
{
	/* One transaction, serialised by the advisory lock: concurrent
	 * CREATE TABLE IF NOT EXISTS can otherwise collide. */
	if (run(s, "BEGIN", "BEGIN") != OK)
		return -1;
	if (run(s, "creating tables", create_sql) != OK) {
		PQclear(PQexec(s->conn, "ROLLBACK"));
		return -1;
	}
	return run(s, "COMMIT", "COMMIT") == OK ? 0 : -1;
}

int
store_prune(struct store *s, long long before_ms, long long *deleted)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char key[LEDGER_KEY_LEN];
	char text[2 * LEDGER_KEY_LEN + 1];
	const char *params[1] = { text };

	ledger_key_of_time(before_ms, key);
	for (int i = 0; i < LEDGER_KEY_LEN; i++) {
		text[2 * i] = hex[key[i] >> 4];
		text[2 * i + 1] = hex[key[i] & 15];
	}
	text[2 * LEDGER_KEY_LEN] = '\0';
	*deleted = 0;
	for (;;) {
		PGresult *res = PQexecParams(s->conn, prune_sql, 1, NULL, params,
		    NULL, NULL, 0);
		long long n;

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			set_error(s, "pruning the ledger", res);
			PQclear(res);
			return -1;
		}
		n = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		if (n == 0)
			return 0;
		*deleted += n;
	}
}

size_t
store_batch_bytes(const struct store_batch *b)
{
	return b->data.len + b->text.len;
}

void
store_batch_free(struct store_batch *b)
{
	free(b->items);
	obuf_free(&b->text);
	obuf_free(&b->data);
	obuf_free(&b->reasons);
	memset(b, 0, sizeof(*b));
}

/* Appends a string to text; returns its offset, or NONE for NULL. */
static size_t
keep_text(struct store_batch *b, const struct ndjson_text *t)
{
	size_t off = b->text.len;

	if (t->s == NULL)
		return NONE;
	obuf_put(&b->text, t->s, t->n);
	return off;
}

static struct store_item *
new_item(struct store_batch *b, const struct ndjson_ids *ids)
{
	struct store_item *it;

	if (b->nitems == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		struct store_item *p = realloc(b->items, cap * sizeof(*p));

		if (p == NULL)
			return NULL;
		b->items = p;
		b->cap = cap;
	}
	it = &b->items[b->nitems];
	memset(it, 0, sizeof(*it));
	it->mid = keep_text(b, &ids->message_id);
	it->mid_len = ids->message_id.n;
	it->rh = keep_text(b, &ids->receipt_handle);
	it->rh_len = ids->receipt_handle.n;
	it->sent = ids->sent_timestamp;
	it->receive_count = ids->receive_count;
	return it;
}

int
store_add_row(struct store_batch *batch, const struct store_row *r)
{
	struct store_item *it = new_item(batch, &r->ids);
	struct obuf *b = &batch->data;

	if (it == NULL)
		return -1;
	it->tup = b->len;
	copybin_tuple(b, 7);
	copybin_bytes(b, r->user_id.s, r->user_id.n);
	copybin_bytes(b, r->device_type.s, r->device_type.n);
	copybin_bytes(b, r->masked_ip.s, r->masked_ip.n);
	copybin_bytes(b, r->masked_device_id.s, r->masked_device_id.n);
	copybin_bytes(b, r->locale.s, r->locale.n);
	if (r->has_app_version)
		copybin_int4(b, (int32_t)r->app_version);
	else
		copybin_null(b);
	if (r->has_create_date)
		copybin_date(b, r->create_year, r->create_month,
		    r->create_day);
	else
		copybin_null(b);
	it->tup_len = b->len - it->tup;
	batch->nitems++;
	return batch->text.oom || b->oom ? -1 : 0;
}

int
store_add_reject(struct store_batch *b, const struct ndjson_ids *ids,
    const char *reason, size_t len, const char *line, size_t line_len)
{
	struct store_item *it = new_item(b, ids);
	struct ndjson_text t = { line, line_len };

	if (it == NULL)
		return -1;
	it->is_reject = 1;
	it->line = keep_text(b, &t);
	it->line_len = line_len;
	it->reason = b->reasons.len;
	it->reason_len = len;
	obuf_put(&b->reasons, reason, len);
	b->reasons_base = b->reasons.len;
	b->nitems++;
	return b->text.oom || b->reasons.oom ? -1 : 0;
}

/* Names of the conditions a refused row most often meets. */
static const char *
condition_name(const char *state)
{
	static const char *const names[][2] = {
		{ "22001", "value too long" },
		{ "22003", "numeric value out of range" },
		{ "22007", "invalid date or time" },
		{ "22008", "date or time out of range" },
		{ "22021", "character not in the database encoding" },
		{ "22P02", "invalid value for its type" },
		{ "22P03", "invalid binary value for its type" },
		{ "23502", "not-null constraint violated" },
		{ "23503", "foreign key constraint violated" },
		{ "23505", "unique constraint violated" },
		{ "23514", "check constraint violated" },
		{ "P0001", "raised by a trigger" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i][0], state) == 0)
			return names[i][1];
	return "refused";
}

/* Records why the server refused a row: the condition, its SQLSTATE, and
 * the constraint or column it names, never the message (which may quote
 * the value). */
static void
refuse(struct store *s, struct store_item *it, const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *con = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "server: %s (SQLSTATE %s)%s%s%s%s",
	    condition_name(st ? st : ""), st ? st : "?",
	    con ? ", constraint " : "", con ? con : "",
	    col ? ", column " : "", col ? col : "");
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	it->fate = REFUSED;
	it->reason = s->b->reasons.len;
	it->reason_len = (size_t)n;
	obuf_put(&s->b->reasons, buf, (size_t)n);
}

/*
 * Starts a binary COPY and sends its header.  Returns NULL when tuples
 * can follow, else the failed result (to be cleared by the caller) or,
 * after a failure to send, an empty result.
 */
static PGresult *
copy_start(struct store *s, const char *sql)
{
	PGresult *res = PQexec(s->conn, sql);

	if (PQresultStatus(res) != PGRES_COPY_IN)
		return res;
	PQclear(res);
	if (PQputCopyData(s->conn, COPYBIN_HEADER,
	    COPYBIN_HEADER_LEN) != 1)
		return PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
	return NULL;
}

/* Sends the trailer, ends the COPY and returns its result (to be cleared
 * by the caller), having read the command to its end as libpq requires. */
static PGresult *
copy_end(struct store *s)
{
	PGresult *res, *r;

	if (PQputCopyData(s->conn, COPYBIN_TRAILER, COPYBIN_TRAILER_LEN) != 1 ||
	    PQputCopyEnd(s->conn, NULL) != 1)
		return PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
	res = PQgetResult(s->conn);
	while ((r = PQgetResult(s->conn)) != NULL)
		PQclear(r);
	return res;
}

/* COPYs the tuples of items idx[0..n) in one command.  Returns the
 * result of the command, to be cleared by the caller. */
static PGresult *
copy_rows(struct store *s, const size_t *idx, size_t n)
{
	PGresult *res = copy_start(s, copy_sql);
	size_t i = 0;

	if (res != NULL)
		return res;
	while (i < n) {
		/* Send runs of tuples that lie side by side in one call. */
		const struct store_item *first = &s->b->items[idx[i]];
		size_t end = first->tup + first->tup_len;

		while (++i < n && s->b->items[idx[i]].tup == end)
			end += s->b->items[idx[i]].tup_len;
		if (PQputCopyData(s->conn, s->b->data.p + first->tup,
		    (int)(end - first->tup)) != 1)
			return PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
	}
	return copy_end(s);
}

/*
 * Stores the rows idx[0..n), isolating under savepoints any the server
 * refuses: a failed range is split in halves until each refused row
 * stands alone.
 */
static enum outcome
store_range(struct store *s, const size_t *idx, size_t n)
{
	enum outcome o;
	PGresult *res;

	if (n == 0)
		return OK;
	if ((o = run(s, "SAVEPOINT", "SAVEPOINT batch_part")) != OK)
		return o;
	res = copy_rows(s, idx, n);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		for (size_t i = 0; i < n; i++)
			s->b->items[idx[i]].fate = STORED;
		return run(s, "RELEASE SAVEPOINT",
		    "RELEASE SAVEPOINT batch_part");
	}
	set_error(s, "COPY", res);
	if ((o = classify(s, res)) != ROW_ERROR) {
		PQclear(res);
		return o;
	}
	if ((o = run(s, "ROLLBACK TO SAVEPOINT", "ROLLBACK TO SAVEPOINT "
	    "batch_part; RELEASE SAVEPOINT batch_part")) != OK) {
		PQclear(res);
		return o;
	}
	if (n == 1) {
		refuse(s, &s->b->items[idx[0]], res);
		PQclear(res);
		return OK;
	}
	PQclear(res);
	if ((o = store_range(s, idx, n / 2)) != OK)
		return o;
	return store_range(s, idx + n / 2, n - n / 2);
}

static enum outcome
exec_prepared(struct store *s, const char *name, const char *what, int n,
    const char *const *params, PGresult **out)
{
	PGresult *res = PQexecPrepared(s->conn, name, n, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		enum outcome o;

		set_error(s, what, res);
		o = classify(s, res);
		PQclear(res);
		return o == ROW_ERROR ? FATAL : o;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return OK;
}

/* Sorts item indices by ledger key; ctx is the store. */
static int
by_key(const void *a, const void *b, void *ctx)
{
	const struct store *s = ctx;

	return memcmp(s->b->items[*(const size_t *)a].key,
	    s->b->items[*(const size_t *)b].key, LEDGER_KEY_LEN);
}

/*
 * Lists in s->order the rows with a message id, sorted by ledger key,
 * and marks those whose message appeared earlier in the batch instead.
 * Sorted, two loaders file keys in the same order, so they can wait for
 * each other but never deadlock; and neighbouring keys share index pages.
 */
static int
order_by_key(struct store *s)
{
	size_t *order, *n = &s->norder;

	*n = 0;
	if ((order = realloc(s->order, s->b->nitems * sizeof(*order) + 1)) == NULL)
		return -1;
	s->order = order;
	strset_clear(&s->ids);
	for (size_t i = 0; i < s->b->nitems; i++) {
		struct store_item *it = &s->b->items[i];
		int r;

		if (it->is_reject || it->mid == NONE)
			continue;
		r = strset_add(&s->ids, s->b->text.p + it->mid, it->mid_len, i,
		    NULL);
		if (r < 0)
			return -1;
		if (r == 0) {
			it->fate = DUPLICATE;	/* earlier in this batch */
			continue;
		}
		ledger_key(s->b->text.p + it->mid, it->mid_len, it->sent,
		    s->before_ms,
		    it->key);
		order[(*n)++] = i;
	}
	qsort_r(order, *n, sizeof(*order), by_key, s);
	/* Two ids with one key are one message to the ledger (ledger.h:
	 * never seen in practice); the first stands for both. */
	for (size_t i = 1, j = 1; i <= *n; i++) {
		if (i == *n) {
			*n = j;
			break;
		}
		if (by_key(&order[j - 1], &order[i], s) == 0)
			s->b->items[order[i]].fate = DUPLICATE;
		else
			order[j++] = order[i];
	}
	return 0;
}

/* Finds the item of a key the ledger returned (binary search in order). */
static struct store_item *
item_of_key(struct store *s, const unsigned char *key)
{
	size_t lo = 0, hi = s->norder;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct store_item *it = &s->b->items[s->order[mid]];
		int c = memcmp(it->key, key, LEDGER_KEY_LEN);

		if (c == 0)
			return it;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Does the batch look item it up in the ledger before storing it? */
static int
worth_probing(const struct store *s, const struct store_item *it)
{
	/* SQS counts receives: a message received once was never stored
	 * (nor acknowledged) before.  The count is only a hint: the
	 * primary key still refuses a key filed before. */
	return it->fate == PENDING && (s->probe_all || it->receive_count != 1);
}

static int
was_refused(const struct store *s, const struct store_item *it)
{
	return it->fate == REFUSED;
}

/*
 * Puts in s->p1 a binary uuid[] of the keys of the items of s->order that
 * want() picks, as a statement parameter: parsing 5,000 uuids as text
 * costs the server more than finding them.  Returns how many, or -1 when
 * memory is short.
 */
static long
key_array(struct store *s, int (*want)(const struct store *,
    const struct store_item *))
{
	struct obuf *b = &s->p1;
	uint32_t n = 0, v;

	obuf_clear(b);
	copybin_put_be32(b, 1);			/* one dimension */
	copybin_put_be32(b, 0);			/* no NULLs */
	copybin_put_be32(b, UUID_OID);
	copybin_put_be32(b, 0);			/* length, set below */
	copybin_put_be32(b, 1);			/* lower bound */
	for (size_t i = 0; i < s->norder; i++) {
		const struct store_item *it = &s->b->items[s->order[i]];

		if (!want(s, it))
			continue;
		copybin_bytes(b, it->key, LEDGER_KEY_LEN);
		n++;
	}
	if (b->oom) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	v = htonl(n);
	memcpy(b->p + 12, &v, 4);	/* after ndim, flags and type */
	return n;
}

/* Runs a prepared statement with s->p1 as its one binary parameter, the
 * result in binary. */
static enum outcome
exec_keys(struct store *s, const char *name, const char *what,
    PGresult **out)
{
	const char *params[1] = { s->p1.p };
	int lengths[1] = { (int)s->p1.len }, formats[1] = { 1 };
	PGresult *res = PQexecPrepared(s->conn, name, 1, params, lengths,
	    formats, 1);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		enum outcome o;

		set_error(s, what, res);
		o = classify(s, res);
		PQclear(res);
		return o == ROW_ERROR ? FATAL : o;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return OK;
}

/* Marks rows whose message was stored before, as the ledger says: one
 * index probe per key looked up, whatever the ledger holds besides. */
static enum outcome
find_duplicates(struct store *s)
{
	PGresult *res;
	enum outcome o;
	long n = key_array(s, worth_probing);

	if (n <= 0)
		return n == 0 ? OK : FATAL;
	if ((o = exec_keys(s, "fa_probe", "checking the ledger", &res)) != OK)
		return o;
	for (int row = 0; row < PQntuples(res); row++) {
		struct store_item *it;

		if (PQgetlength(res, row, 0) == LEDGER_KEY_LEN &&
		    (it = item_of_key(s, (const unsigned char *)
		    PQgetvalue(res, row, 0))) != NULL)
			it->fate = DUPLICATE;
	}
	PQclear(res);
	return OK;
}

/*
 * Files the keys of the messages about to be stored, by binary COPY, in
 * key order.  The primary key is the arbiter between loaders: a key filed
 * before and not looked up, or one that another loader filed after our
 * look or is filing now, makes this fail with a unique violation (after
 * waiting for that loader's transaction, if it committed): CONFLICT.
 */
static enum outcome
write_ledger(struct store *s)
{
	struct obuf *b = &s->ledger_rows;
	PGresult *res;
	enum outcome o = OK;
	const char *st;

	obuf_clear(b);
	for (size_t i = 0; i < s->norder; i++) {
		const struct store_item *it = &s->b->items[s->order[i]];

		if (it->fate != PENDING)
			continue;
		obuf_put(b, "\0\1", 2);
		copybin_put_be32(b, LEDGER_KEY_LEN);
		obuf_put(b, it->key, LEDGER_KEY_LEN);
	}
	if (b->len == 0)
		return OK;	/* nothing new */
	if (b->oom) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return FATAL;
	}
	if ((res = copy_start(s, ledger_copy_sql)) == NULL) {
		if (PQputCopyData(s->conn, b->p, (int)b->len) != 1)
			res = PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
		else
			res = copy_end(s);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_error(s, "writing the ledger", res);
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (st != NULL && strcmp(st, "23505") == 0)
			o = CONFLICT;	/* stored before, or by another loader */
		else if ((o = classify(s, res)) == ROW_ERROR)
			o = FATAL;
	}
	PQclear(res);
	return o;
}

/* Upserts every refused or rejected message into the rejects table. */
static enum outcome
write_rejects(struct store *s)
{
	for (size_t i = 0; i < s->b->nitems; i++) {
		const struct store_item *it = &s->b->items[i];
		char id[1024], reason[512], count[24];
		const char *params[3] = { id, reason, NULL };
		enum outcome o;

		if ((it->fate != REFUSED && it->fate != REJECTED) ||
		    it->mid == NONE || it->mid_len >= sizeof(id) ||
		    memchr(s->b->text.p + it->mid, '\0', it->mid_len) != NULL)
			continue;
		memcpy(id, s->b->text.p + it->mid, it->mid_len);
		id[it->mid_len] = '\0';
		snprintf(reason, sizeof(reason), "%.*s", (int)it->reason_len,
		    s->b->reasons.p + it->reason);
		if (it->receive_count >= 0) {
			snprintf(count, sizeof(count), "%ld", it->receive_count);
			params[2] = count;
		}
		if ((o = exec_prepared(s, "fa_reject", "recording a reject", 3,
		    params, NULL)) != OK)
			return o;
	}
	return OK;
}

static enum outcome
prepare(struct store *s)
{
	static const char *const stmts[][3] = {
		{ "fa_probe", probe_sql, "preparing the ledger probe" },
		{ "fa_unclaim", unclaim_sql, "preparing the ledger unclaim" },
		{ "fa_reject", reject_sql, "preparing the rejects upsert" },
	};
	PGresult *res;
	enum outcome o;

	if (s->prepared)
		return OK;
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		res = PQprepare(s->conn, stmts[i][0], stmts[i][1], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			goto fail;
		PQclear(res);
	}
	res = PQexec(s->conn, meta_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	s->before_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	s->prepared = 1;
	return OK;
fail:
	set_error(s, "preparing statements", res);
	o = classify(s, res);
	if (o == FATAL) {
		/* A missing table or column: no schema, or the 0.2 one. */
		size_t n = strlen(s->err);

		snprintf(s->err + n, sizeof(s->err) - n, "; pg-load --create "
		    "makes the tables, or converts a 0.2 ledger");
	}
	PQclear(res);
	return o == ROW_ERROR ? FATAL : o;
}

/*
 * Files the keys of the batch's pending rows under a savepoint.  On a
 * CONFLICT only the keys are undone: every key is then looked up (the
 * conflicting one is committed by now) and the rest filed again.
 */
static enum outcome
claim_keys(struct store *s)
{
	enum outcome o;

	for (int tries = 0; tries < 100; tries++) {
		if ((o = run(s, "SAVEPOINT", "SAVEPOINT ledger")) != OK)
			return o;
		if ((o = write_ledger(s)) == OK)
			return run(s, "RELEASE SAVEPOINT",
			    "RELEASE SAVEPOINT ledger");
		if (o != CONFLICT)
			return o;
		if ((o = run(s, "ROLLBACK TO SAVEPOINT",
		    "ROLLBACK TO SAVEPOINT ledger")) != OK)
			return o;
		s->probe_all = 1;
		if ((o = find_duplicates(s)) != OK)
			return o;
	}
	return RETRY;	/* other loaders keep racing us: redo it all */
}

/* The keys of rows the server refused leave the ledger again, so their
 * redeliveries are tried again rather than taken for stored. */
static enum outcome
unclaim_refused(struct store *s)
{
	long n = key_array(s, was_refused);

	if (n <= 0)
		return n == 0 ? OK : FATAL;
	return exec_keys(s, "fa_unclaim", "taking refused rows off the ledger",
	    NULL);
}

/*
 * One attempt at the whole batch, in one transaction: look up the keys
 * worth looking up, file the keys of the rest (claim_keys()), store their
 * rows, take refused rows' keys back, record rejects, commit.
 *
 * Looking a key up costs the server about as much as filing it, and
 * nearly every message is new.  So the batch looks up only the messages
 * SQS has delivered before (worth_probing()) and files the rest without a
 * look; the primary key refuses a key filed before.  Looking everything
 * up goes on from then (a saved file replayed a second time meets stored
 * messages in every batch) until a batch finds none of its first
 * deliveries stored.
 */
static enum outcome
attempt(struct store *s)
{
	size_t *idx, n = 0;
	enum outcome o;

	if (PQstatus(s->conn) != CONNECTION_OK) {
		s->prepared = 0;
		PQreset(s->conn);
		if (PQstatus(s->conn) != CONNECTION_OK) {
			set_error(s, "reconnecting", NULL);
			return RETRY;
		}
		PQsetErrorVerbosity(s->conn, PQERRORS_TERSE);
	}
	/* Keys depend on the ledger's conversion time, which prepare()
	 * reads. */
	if ((o = prepare(s)) != OK)
		return o;
	if (order_by_key(s) < 0) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return FATAL;
	}
	if ((o = run(s, "BEGIN", "BEGIN")) != OK)
		return o;
	if ((o = find_duplicates(s)) != OK)
		goto rollback;
	if (s->probe_all) {
		int first_seen = 0;

		for (size_t i = 0; i < s->norder && !first_seen; i++) {
			const struct store_item *it = &s->b->items[s->order[i]];

			first_seen = it->fate == DUPLICATE &&
			    it->receive_count == 1;
		}
		s->probe_all = first_seen;
	}
	if ((o = claim_keys(s)) != OK)
		goto rollback;
	if ((idx = malloc(s->b->nitems * sizeof(*idx))) == NULL) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		o = FATAL;
		goto rollback;
	}
	for (size_t i = 0; i < s->b->nitems; i++)
		if (s->b->items[i].fate == PENDING)
			idx[n++] = i;
	o = store_range(s, idx, n);
	free(idx);
	if (o != OK || (o = unclaim_refused(s)) != OK ||
	    (o = write_rejects(s)) != OK)
		goto rollback;
	/* If COMMIT fails we cannot know whether it happened, so we say it
	 * did not: redone, the ledger finds the batch and stores nothing. */
	return run(s, "COMMIT", "COMMIT");
rollback:
	if (PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	return o;
}

/* Sleeps a random time below min(cap, 100 ms * 2^n), at least 1 ms. */
static void
backoff(int n)
{
	long ms = backoff_jitter_ms(n, 100, BACKOFF_CAP_MS) + 1;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
clear_batch(struct store_batch *b)
{
	b->nitems = 0;
	obuf_clear(&b->text);
	obuf_clear(&b->data);
	obuf_clear(&b->reasons);
	b->reasons_base = 0;
}

int
store_commit(struct store *s, struct store_batch *b, store_result_fn *fn,
    void *ctx)
{
	long long deadline = backoff_now_ms() + s->retry_ms;
	enum outcome o;
	int tries = 0;

	if (b->nitems == 0)
		return 0;
	s->b = b;
	if (s->b->text.oom || s->b->data.oom || s->b->reasons.oom) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		clear_batch(b);
		return -1;
	}
	for (;;) {
		/* Every attempt starts from the batch as it was added. */
		for (size_t i = 0; i < s->b->nitems; i++)
			s->b->items[i].fate = s->b->items[i].is_reject ? REJECTED :
			    PENDING;
		s->b->reasons.len = s->b->reasons_base;
		if ((o = attempt(s)) == OK)
			break;
		if (o == FATAL || backoff_now_ms() >= deadline) {
			if (o != FATAL) {
				char last[sizeof(s->err)];

				memcpy(last, s->err, sizeof(last));
				snprintf(s->err, sizeof(s->err), "gave up after "
				    "%d attempts in %ld s: %.400s", tries + 1,
				    s->retry_ms / 1000, last);
			}
			clear_batch(b);
			return -1;
		}
		backoff(tries++);
	}
	for (size_t i = 0; i < s->b->nitems; i++) {
		const struct store_item *it = &s->b->items[i];
		struct ndjson_ids ids = {
			.message_id = { it->mid == NONE ? NULL :
			    s->b->text.p + it->mid, it->mid_len },
			.receipt_handle = { it->rh == NONE ? NULL :
			    s->b->text.p + it->rh, it->rh_len },
			.sent_timestamp = it->sent,
			.receive_count = it->receive_count,
		};
		struct store_result r = { .ids = &ids,
		    .duplicate = it->fate == DUPLICATE };

		if (it->fate == REFUSED || it->fate == REJECTED) {
			r.reason = s->b->reasons.p + it->reason;
			r.reason_len = it->reason_len;
			r.refused = it->fate == REFUSED;
		}
		if (it->is_reject && it->line != NONE) {
			r.line = s->b->text.p + it->line;
			r.line_len = it->line_len;
		}
		fn(ctx, &r);
	}
	clear_batch(b);
	return 0;
}
