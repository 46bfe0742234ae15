/*
 * storerows.c - a batch's items, and their rows stored by binary COPY,
 * refused rows isolated under savepoints.  See store.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "copybin.h"
#include "store_int.h"

static const char copy_sql[] =
    "COPY user_logins (user_id, device_type, masked_ip, masked_device_id,"
    " locale, app_version, create_date) FROM STDIN (FORMAT binary)";

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

void
store_batch_clear(struct store_batch *b)
{
	b->nitems = 0;
	obuf_clear(&b->text);
	obuf_clear(&b->data);
	obuf_clear(&b->reasons);
	b->reasons_base = 0;
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
PGresult *
store_copy_start(struct store *s, const char *sql)
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
PGresult *
store_copy_end(struct store *s)
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
	PGresult *res = store_copy_start(s, copy_sql);
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
	return store_copy_end(s);
}

/*
 * Stores the rows idx[0..n), isolating under savepoints any the server
 * refuses: a failed range is split in halves until each refused row
 * stands alone.
 */
enum outcome
store_rows(struct store *s, const size_t *idx, size_t n)
{
	enum outcome o;
	PGresult *res;

	if (n == 0)
		return OK;
	if ((o = store_run(s, "SAVEPOINT", "SAVEPOINT batch_part")) != OK)
		return o;
	res = copy_rows(s, idx, n);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		for (size_t i = 0; i < n; i++)
			s->b->items[idx[i]].fate = STORED;
		return store_run(s, "RELEASE SAVEPOINT",
		    "RELEASE SAVEPOINT batch_part");
	}
	store_set_error(s, "COPY", res);
	if ((o = store_classify(s, res)) != ROW_ERROR) {
		PQclear(res);
		return o;
	}
	if ((o = store_run(s, "ROLLBACK TO SAVEPOINT", "ROLLBACK TO SAVEPOINT "
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
	if ((o = store_rows(s, idx, n / 2)) != OK)
		return o;
	return store_rows(s, idx + n / 2, n - n / 2);
}

