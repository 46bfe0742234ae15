/*
 * store.c - exactly-once batch loading into PostgreSQL: the connection,
 * the schema, the retry loop and one attempt.  See store.h; the rows are
 * in storerows.c, the ledger in storeledger.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "backoff.h"
#include "store_int.h"

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

static const char reject_sql[] =
    "INSERT INTO user_logins_rejects AS r (message_id, reason,"
    " receive_count) VALUES ($1, $2, $3::integer)"
    " ON CONFLICT (message_id) DO UPDATE SET reason = EXCLUDED.reason,"
    " receive_count = COALESCE(EXCLUDED.receive_count, r.receive_count),"
    " last_seen = now()";

const char *
store_error(const struct store *s)
{
	return s->err;
}

/* Records the server's or the connection's error, in one line. */
void
store_set_error(struct store *s, const char *what, const PGresult *res)
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

enum outcome
store_classify(struct store *s, const PGresult *res)
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
enum outcome
store_run(struct store *s, const char *what, const char *sql)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	enum outcome o = OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		store_set_error(s, what, res);
		o = store_classify(s, res);
	}
	PQclear(res);
	return o;
}

enum outcome
store_result(struct store *s, const char *what, PGresult *res,
    PGresult **out)
{
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		enum outcome o;

		store_set_error(s, what, res);
		o = store_classify(s, res);
		PQclear(res);
		return o == ROW_ERROR ? FATAL : o;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return OK;
}

enum outcome
store_exec_prepared(struct store *s, const char *name, const char *what, int n,
    const char *const *params, PGresult **out)
{
	return store_result(s, what, PQexecPrepared(s->conn, name, n, params,
	    NULL, NULL, 0), out);
}

/* Sleeps a random time below min(cap, 100 ms * 2^n), at least 1 ms. */
static void
store_sleep_backoff(int n)
{
	long ms = backoff_jitter_ms(n, 100, BACKOFF_CAP_MS) + 1;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The deadline of a retry loop that starts now, on backoff_now_ms()'s
 * clock: now + retry_ms, or -1 for none. */
static long long
retry_limit(const struct store *s, long long now)
{
	return s->o.retry_ms < 0 ? -1 : now + s->o.retry_ms;
}

/* deadline, brought forward once the tool is asked to stop: a loop ends
 * STORE_STOP_RETRY_MS after the first failure seen while stopping. */
static long long
retry_deadline(const struct store *s, long long now, long long deadline)
{
	long long stop_by = now + STORE_STOP_RETRY_MS;

	if (s->o.stop != NULL && *s->o.stop &&
	    (deadline < 0 || deadline > stop_by))
		deadline = stop_by;
	return deadline;
}

struct store *
store_open(const struct store_options *o, char *err, size_t errlen)
{
	/* A name in pg_stat_activity, unless the user gave one. */
	const char *const keys[] = { "dbname", "fallback_application_name",
	    NULL };
	const char *const values[] = { o->conninfo ? o->conninfo : "",
	    "pg-load", NULL };
	struct store *s = calloc(1, sizeof(*s));
	long long deadline;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	deadline = retry_limit(s, backoff_now_ms());
	for (int tries = 0;; tries++) {
		PGPing ping;
		char *nl;

		s->conn = PQconnectdbParams(keys, values, 1);
		if (PQstatus(s->conn) == CONNECTION_OK)
			break;
		snprintf(err, errlen, "connecting to PostgreSQL: %s",
		    PQerrorMessage(s->conn));
		if ((nl = strchr(err, '\n')) != NULL)
			*nl = '\0';
		PQfinish(s->conn);
		s->conn = NULL;
		/* A server that does not answer, or is starting or stopping,
		 * may come back: wait for it as for a failed batch.  One that
		 * answers and still refuses us (a password, a database that
		 * does not exist) will not. */
		ping = PQpingParams(keys, values, 1);
		deadline = retry_deadline(s, backoff_now_ms(), deadline);
		if ((ping != PQPING_NO_RESPONSE && ping != PQPING_REJECT) ||
		    (deadline >= 0 && backoff_now_ms() >= deadline)) {
			store_close(s);
			return NULL;
		}
		outage_retry(s->o.outage, 1, err);
		store_sleep_backoff(tries);
	}
	outage_answered(s->o.outage);
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
	if (store_run(s, "BEGIN", "BEGIN") != OK)
		return -1;
	if (store_run(s, "creating tables", create_sql) != OK) {
		PQclear(PQexec(s->conn, "ROLLBACK"));
		return -1;
	}
	return store_run(s, "COMMIT", "COMMIT") == OK ? 0 : -1;
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
		if ((o = store_exec_prepared(s, "fa_reject", "recording a reject", 3,
		    params, NULL)) != OK)
			return o;
	}
	return OK;
}

static enum outcome
prepare(struct store *s)
{
	static const char *const stmts[][3] = {
		{ "fa_probe", store_probe_sql, "preparing the ledger probe" },
		{ "fa_unclaim", store_unclaim_sql, "preparing the ledger unclaim" },
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
	res = PQexec(s->conn, store_meta_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	s->before_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	s->prepared = 1;
	return OK;
fail:
	store_set_error(s, "preparing statements", res);
	o = store_classify(s, res);
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
 * One attempt at the whole batch, in one transaction: look up the keys
 * worth looking up, file the keys of the rest (store_ledger_claim()), store their
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
			store_set_error(s, "reconnecting", NULL);
			return RETRY;
		}
		PQsetErrorVerbosity(s->conn, PQERRORS_TERSE);
	}
	/* Keys depend on the ledger's conversion time, which prepare()
	 * reads. */
	if ((o = prepare(s)) != OK)
		return o;
	if (store_ledger_order(s) < 0) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return FATAL;
	}
	if ((o = store_run(s, "BEGIN", "BEGIN")) != OK)
		return o;
	if ((o = store_ledger_probe(s)) != OK)
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
	if ((o = store_ledger_claim(s)) != OK)
		goto rollback;
	if ((idx = malloc(s->b->nitems * sizeof(*idx))) == NULL) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		o = FATAL;
		goto rollback;
	}
	for (size_t i = 0; i < s->b->nitems; i++)
		if (s->b->items[i].fate == PENDING)
			idx[n++] = i;
	o = store_rows(s, idx, n);
	free(idx);
	if (o != OK || (o = store_ledger_unclaim(s)) != OK ||
	    (o = write_rejects(s)) != OK)
		goto rollback;
	/* If COMMIT fails we cannot know whether it happened, so we say it
	 * did not: redone, the ledger finds the batch and stores nothing. */
	return store_run(s, "COMMIT", "COMMIT");
rollback:
	if (PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	return o;
}

int
store_commit(struct store *s, struct store_batch *b, store_result_fn *fn,
    void *ctx)
{
	long long start = backoff_now_ms(), deadline;
	enum outcome o;
	int tries = 0;

	if (b->nitems == 0)
		return 0;
	s->b = b;
	if (s->b->text.oom || s->b->data.oom || s->b->reasons.oom) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		store_batch_clear(b);
		return -1;
	}
	deadline = retry_limit(s, start);
	for (;;) {
		/* Every attempt starts from the batch as it was added. */
		for (size_t i = 0; i < s->b->nitems; i++)
			s->b->items[i].fate = s->b->items[i].is_reject ? REJECTED :
			    PENDING;
		s->b->reasons.len = s->b->reasons_base;
		if ((o = attempt(s)) == OK)
			break;
		deadline = retry_deadline(s, backoff_now_ms(), deadline);
		if (o == FATAL ||
		    (deadline >= 0 && backoff_now_ms() >= deadline)) {
			if (o != FATAL) {
				char last[sizeof(s->err)];

				memcpy(last, s->err, sizeof(last));
				snprintf(s->err, sizeof(s->err), "gave up after "
				    "%d attempts in %lld s: %.400s", tries + 1,
				    (backoff_now_ms() - start + 500) / 1000,
				    last);
			}
			store_batch_clear(b);
			return -1;
		}
		/* A connection that broke says the server is away; a deadlock
		 * or a serialization failure only that this batch must be
		 * redone. */
		outage_retry(s->o.outage, PQstatus(s->conn) != CONNECTION_OK,
		    s->err);
		store_sleep_backoff(tries++);
	}
	outage_answered(s->o.outage);
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
	store_batch_clear(b);
	return 0;
}
