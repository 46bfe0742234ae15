/*
 * storeledger.c - the ledger's side of a batch: its keys (ledger.h),
 * looked up, filed, taken back, and pruned.  See store.h.
 */
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "copybin.h"
#include "store_int.h"

#define UUID_OID 2950		/* pg_type.oid of uuid */

/* $1: the keys of the batch's messages.  Which are filed already? */
const char store_probe_sql[] =
    "SELECT message_key FROM user_logins_ledger"
    " WHERE message_key = ANY ($1::uuid[])";

/* Messages sent before this kept 0.2 keys (ledger.h). */
const char store_meta_sql[] =
    "SELECT coalesce(max(second_keys_before_ms), 0)"
    " FROM user_logins_ledger_meta";

const char store_unclaim_sql[] =
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
int
store_ledger_order(struct store *s)
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

	return store_result(s, what, PQexecPrepared(s->conn, name, 1, params,
	    lengths, formats, 1), out);
}

/* Marks rows whose message was stored before, as the ledger says: one
 * index probe per key looked up, whatever the ledger holds besides. */
enum outcome
store_ledger_probe(struct store *s)
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
	if ((res = store_copy_start(s, ledger_copy_sql)) == NULL) {
		if (PQputCopyData(s->conn, b->p, (int)b->len) != 1)
			res = PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
		else
			res = store_copy_end(s);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		store_set_error(s, "writing the ledger", res);
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (st != NULL && strcmp(st, "23505") == 0)
			o = CONFLICT;	/* stored before, or by another loader */
		else if ((o = store_classify(s, res)) == ROW_ERROR)
			o = FATAL;
	}
	PQclear(res);
	return o;
}

/*
 * Files the keys of the batch's pending rows under a savepoint.  On a
 * CONFLICT only the keys are undone: every key is then looked up (the
 * conflicting one is committed by now) and the rest filed again.
 */
enum outcome
store_ledger_claim(struct store *s)
{
	enum outcome o;

	for (int tries = 0; tries < 100; tries++) {
		if ((o = store_run(s, "SAVEPOINT", "SAVEPOINT ledger")) != OK)
			return o;
		if ((o = write_ledger(s)) == OK)
			return store_run(s, "RELEASE SAVEPOINT",
			    "RELEASE SAVEPOINT ledger");
		if (o != CONFLICT)
			return o;
		if ((o = store_run(s, "ROLLBACK TO SAVEPOINT",
		    "ROLLBACK TO SAVEPOINT ledger")) != OK)
			return o;
		s->probe_all = 1;
		if ((o = store_ledger_probe(s)) != OK)
			return o;
	}
	return RETRY;	/* other loaders keep racing us: redo it all */
}

/* The keys of rows the server refused leave the ledger again, so their
 * redeliveries are tried again rather than taken for stored. */
enum outcome
store_ledger_unclaim(struct store *s)
{
	long n = key_array(s, was_refused);

	if (n <= 0)
		return n == 0 ? OK : FATAL;
	return exec_keys(s, "fa_unclaim", "taking refused rows off the ledger",
	    NULL);
}

int
store_prune(struct store *s, long long before_ms, long long *deleted)
{
	unsigned char key[LEDGER_KEY_LEN];
	const char *params[1] = { (const char *)key };
	int lengths[1] = { LEDGER_KEY_LEN }, formats[1] = { 1 };

	ledger_key_of_time(before_ms, key);	/* a binary uuid */
	*deleted = 0;
	for (;;) {
		PGresult *res;
		long long n;

		if (store_result(s, "pruning the ledger", PQexecParams(s->conn,
		    prune_sql, 1, NULL, params, lengths, formats, 0), &res) != OK)
			return -1;
		n = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		if (n == 0)
			return 0;
		*deleted += n;
	}
}

