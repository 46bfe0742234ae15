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
#include "obuf.h"
#include "store.h"
#include "strset.h"

#define NONE ((size_t)-1)	/* offset of a NULL string */
#define BACKOFF_CAP_MS 2000

static const char create_sql[] =
    "SELECT pg_advisory_xact_lock(hashtext('fetch-awards schema'));"
    "CREATE TABLE IF NOT EXISTS user_logins ("
    " user_id varchar(128), device_type varchar(32),"
    " masked_ip varchar(256), masked_device_id varchar(256),"
    " locale varchar(32), app_version integer, create_date date);"
    "CREATE TABLE IF NOT EXISTS user_logins_ledger ("
    " sent_second bigint NOT NULL,"
    " message_ids text[] COLLATE \"C\" NOT NULL,"
    " loaded_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX IF NOT EXISTS user_logins_ledger_sent_second"
    " ON user_logins_ledger (sent_second);"
    /* Message ids are random: compressing them costs and saves nothing. */
    "ALTER TABLE user_logins_ledger ALTER COLUMN message_ids"
    " SET STORAGE EXTERNAL;"
    "CREATE TABLE IF NOT EXISTS user_logins_rejects ("
    " message_id text PRIMARY KEY, reason text NOT NULL,"
    " receive_count integer,"
    " first_seen timestamptz NOT NULL DEFAULT now(),"
    " last_seen timestamptz NOT NULL DEFAULT now());";

/* Held by each batch transaction from its ledger check to its commit. */
static const char lock_sql[] =
    "SELECT pg_advisory_xact_lock(hashtext('fetch-awards ledger'))";

/* $1: the seconds of the batch's messages.  Returns every id stored in
 * those seconds; the batch looks its own ids up among them. */
static const char check_sql[] =
    "SELECT unnest(message_ids) FROM user_logins_ledger"
    " WHERE sent_second = ANY ($1::bigint[])";

static const char ledger_copy_sql[] =
    "COPY user_logins_ledger (sent_second, message_ids) FROM STDIN"
    " (FORMAT binary)";

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
};

/* How a statement failed. */
enum outcome {
	OK,
	ROW_ERROR,	/* the data of a row: isolate it */
	RETRY,		/* the connection or the moment: redo the batch */
	FATAL,		/* the schema or the setup: stop */
};

struct store {
	PGconn *conn;
	long retry_ms;
	int prepared;		/* statements prepared on this connection */
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
keep_text(struct store_batch *b, const struct store_text *t)
{
	size_t off = b->text.len;

	if (t->s == NULL)
		return NONE;
	obuf_put(&b->text, t->s, t->n);
	return off;
}

static struct store_item *
new_item(struct store_batch *b, const struct store_ids *ids)
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

static void
put_be32(struct obuf *b, uint32_t v)
{
	v = htonl(v);
	obuf_put(b, &v, 4);
}

/* A binary COPY field: length and bytes, or -1 for NULL. */
static void
put_field(struct obuf *b, const struct store_text *t)
{
	if (t->s == NULL) {
		put_be32(b, 0xffffffffu);
		return;
	}
	put_be32(b, (uint32_t)t->n);
	obuf_put(b, t->s, t->n);
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static long
days_from_civil(long y, long m, long d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
store_add_row(struct store_batch *batch, const struct store_row *r)
{
	/* PostgreSQL dates count days from 2000-01-01. */
	static const long pg_epoch = 10957;
	struct store_item *it = new_item(batch, &r->ids);
	struct obuf *b = &batch->data;

	if (it == NULL)
		return -1;
	it->tup = b->len;
	obuf_put(b, "\0\7", 2);		/* seven fields */
	put_field(b, &r->user_id);
	put_field(b, &r->device_type);
	put_field(b, &r->masked_ip);
	put_field(b, &r->masked_device_id);
	put_field(b, &r->locale);
	if (r->has_app_version) {
		put_be32(b, 4);
		put_be32(b, (uint32_t)(int32_t)r->app_version);
	} else
		put_be32(b, 0xffffffffu);
	if (r->has_create_date) {
		put_be32(b, 4);
		put_be32(b, (uint32_t)(int32_t)(days_from_civil(r->create_year,
		    r->create_month, r->create_day) - pg_epoch));
	} else
		put_be32(b, 0xffffffffu);
	it->tup_len = b->len - it->tup;
	batch->nitems++;
	return batch->text.oom || b->oom ? -1 : 0;
}

int
store_add_reject(struct store_batch *b, const struct store_ids *ids,
    const char *reason, size_t len, const char *line, size_t line_len)
{
	struct store_item *it = new_item(b, ids);
	struct store_text t = { line, line_len };

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
	static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	PGresult *res = PQexec(s->conn, sql);

	if (PQresultStatus(res) != PGRES_COPY_IN)
		return res;
	PQclear(res);
	if (PQputCopyData(s->conn, header, sizeof(header)) != 1)
		return PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
	return NULL;
}

/* Sends the trailer, ends the COPY and returns its result (to be cleared
 * by the caller), having read the command to its end as libpq requires. */
static PGresult *
copy_end(struct store *s)
{
	PGresult *res, *r;

	if (PQputCopyData(s->conn, "\377\377", 2) != 1 ||
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

static void
put_array_int(struct obuf *b, long long v)
{
	obuf_putc(b, b->len == 0 ? '{' : ',');
	obuf_putll(b, v);
}

/* Closes an array literal (empty ones too) and NUL-terminates it. */
static const char *
end_array(struct obuf *b)
{
	if (b->len == 0)
		obuf_putc(b, '{');
	obuf_puts(b, "}");
	obuf_putc(b, '\0');
	return b->p;
}

/* The bucket of a message in the ledger: its SentTimestamp second. */
static long long
second_of(const struct store_item *it)
{
	return it->sent >= 0 ? it->sent / 1000 : -1;
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

/* Sorts item indices by ledger second (ties in input order); ctx is the
 * store. */
static int
by_second(const void *a, const void *b, void *ctx)
{
	const struct store *s = ctx;
	const struct store_item *x = &s->b->items[*(const size_t *)a];
	const struct store_item *y = &s->b->items[*(const size_t *)b];
	long long sx = second_of(x), sy = second_of(y);

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/*
 * Lists in s->order the rows with a message id, sorted by second, and
 * marks those whose message appeared earlier in the batch instead.
 */
static int
order_by_second(struct store *s)
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
		if (r == 0)
			it->fate = DUPLICATE;	/* earlier in this batch */
		else
			order[(*n)++] = i;
	}
	qsort_r(order, *n, sizeof(*order), by_second, s);
	return 0;
}

/* Marks rows whose message was stored before, as the ledger says. */
static enum outcome
find_duplicates(struct store *s)
{
	const char *params[1];
	long long last = 0;
	PGresult *res;
	enum outcome o;
	size_t n, k;

	if (order_by_second(s) < 0) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return FATAL;
	}
	if ((n = s->norder) == 0)
		return OK;
	obuf_clear(&s->p1);
	for (size_t i = 0; i < n; i++) {
		long long sec = second_of(&s->b->items[s->order[i]]);

		if (i == 0 || sec != last)
			put_array_int(&s->p1, sec);
		last = sec;
	}
	params[0] = end_array(&s->p1);
	if (s->p1.oom) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return FATAL;
	}
	if ((o = exec_prepared(s, "fa_check", "checking the ledger", 1, params,
	    &res)) != OK)
		return o;
	for (int row = 0; row < PQntuples(res); row++)
		if (strset_get(&s->ids, PQgetvalue(res, row, 0),
		    (size_t)PQgetlength(res, row, 0), &k))
			s->b->items[k].fate = DUPLICATE;
	PQclear(res);
	return OK;
}

/* Appends a binary text[] value holding the ids of order[lo..hi). */
static void
put_id_array(struct store *s, struct obuf *b, const size_t *order, size_t lo,
    size_t hi)
{
	size_t len_at = b->len, n = 0;

	put_be32(b, 0);		/* the value's length, filled in below */
	put_be32(b, 1);		/* one dimension */
	put_be32(b, 0);		/* no NULLs */
	put_be32(b, 25);	/* element type: text */
	put_be32(b, 0);		/* count, filled in below */
	put_be32(b, 1);		/* lower bound */
	for (size_t i = lo; i < hi; i++) {
		const struct store_item *it = &s->b->items[order[i]];

		if (it->fate != STORED)
			continue;
		put_be32(b, (uint32_t)it->mid_len);
		obuf_put(b, s->b->text.p + it->mid, it->mid_len);
		n++;
	}
	if (!b->oom) {
		uint32_t v = htonl((uint32_t)(b->len - len_at - 4));

		memcpy(b->p + len_at, &v, 4);
		v = htonl((uint32_t)n);
		memcpy(b->p + len_at + 16, &v, 4);	/* after length, ndim, flags, type */
	}
}

/* Files the messages the batch stored in the ledger: one row per second,
 * by binary COPY. */
static enum outcome
write_ledger(struct store *s)
{
	struct obuf *b = &s->ledger_rows;
	PGresult *res;
	enum outcome o = OK;
	size_t lo, hi, n = s->norder;

	obuf_clear(b);
	for (lo = 0; lo < n; lo = hi) {
		long long sec = second_of(&s->b->items[s->order[lo]]);
		int any = 0;

		for (hi = lo; hi < n && second_of(&s->b->items[s->order[hi]]) ==
		    sec; hi++)
			any |= s->b->items[s->order[hi]].fate == STORED;
		if (!any)
			continue;
		obuf_put(b, "\0\2", 2);
		put_be32(b, 8);
		put_be32(b, (uint32_t)((unsigned long long)sec >> 32));
		put_be32(b, (uint32_t)sec);
		put_id_array(s, b, s->order, lo, hi);
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
		if ((o = classify(s, res)) == ROW_ERROR)
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
		{ "fa_check", check_sql, "preparing the ledger check" },
		{ "fa_reject", reject_sql, "preparing the rejects upsert" },
	};

	if (s->prepared)
		return OK;
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		PGresult *res = PQprepare(s->conn, stmts[i][0], stmts[i][1], 0,
		    NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			enum outcome o;

			set_error(s, stmts[i][2], res);
			o = classify(s, res);
			PQclear(res);
			return o == ROW_ERROR ? FATAL : o;
		}
		PQclear(res);
	}
	s->prepared = 1;
	return OK;
}

/* One attempt at the whole batch, in one transaction. */
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
	if ((o = prepare(s)) != OK || (o = run(s, "BEGIN", "BEGIN")) != OK)
		return o;
	if ((o = run(s, "taking the ledger lock", lock_sql)) != OK ||
	    (o = find_duplicates(s)) != OK)
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
	if (o != OK || (o = write_ledger(s)) != OK ||
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
		struct store_ids ids = {
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
