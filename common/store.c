/*
 * store.c - exactly-once batch loading into PostgreSQL.  See store.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"

struct store {
	PGconn *conn;
	int prepared;		/* the session's staging table and statement */
	char *copy;		/* COPY text of the batch */
	size_t copy_len, copy_cap;
	size_t rows;
	char err[512];
};

static const char create_sql[] =
    "SELECT pg_advisory_xact_lock(hashtext('fetch-awards schema'));"
    "CREATE TABLE IF NOT EXISTS user_logins ("
    " user_id varchar(128), device_type varchar(32),"
    " masked_ip varchar(256), masked_device_id varchar(256),"
    " locale varchar(32), app_version integer, create_date date);"
    "CREATE TABLE IF NOT EXISTS user_logins_ledger ("
    " message_id text PRIMARY KEY,"
    " loaded_at timestamptz NOT NULL DEFAULT now());";

/* Per session: the staging table empties itself at every commit. */
static const char stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS pg_load_stage ("
    " seq bigint, message_id text, user_id text, device_type text,"
    " masked_ip text, masked_device_id text, locale text,"
    " app_version integer, create_date date) ON COMMIT DELETE ROWS";

/* The first row of each message new to the ledger, and every row with
 * no message_id, in input order. */
static const char insert_sql[] =
    "WITH fresh AS ("
    " INSERT INTO user_logins_ledger (message_id)"
    " SELECT DISTINCT message_id FROM pg_load_stage"
    " WHERE message_id IS NOT NULL"
    " ON CONFLICT (message_id) DO NOTHING RETURNING message_id),"
    " chosen AS ("
    " (SELECT DISTINCT ON (message_id) * FROM pg_load_stage"
    " WHERE message_id IN (SELECT message_id FROM fresh)"
    " ORDER BY message_id, seq)"
    " UNION ALL"
    " SELECT * FROM pg_load_stage WHERE message_id IS NULL)"
    " INSERT INTO user_logins (user_id, device_type, masked_ip,"
    " masked_device_id, locale, app_version, create_date)"
    " SELECT user_id, device_type, masked_ip, masked_device_id, locale,"
    " app_version, create_date FROM chosen ORDER BY seq";

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

/* Runs a command; returns 0 when it succeeded. */
static int
run(struct store *s, const char *what, const char *sql)
{
	PGresult *res = PQexec(s->conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		set_error(s, what, res);
	PQclear(res);
	return ok ? 0 : -1;
}

struct store *
store_open(const char *conninfo, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
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
	free(s->copy);
	free(s);
}

int
store_create(struct store *s)
{
	/* One transaction, serialised by the advisory lock: concurrent
	 * CREATE TABLE IF NOT EXISTS can otherwise collide. */
	if (run(s, "BEGIN", "BEGIN") < 0)
		return -1;
	if (run(s, "creating tables", create_sql) < 0) {
		PQclear(PQexec(s->conn, "ROLLBACK"));
		return -1;
	}
	return run(s, "COMMIT", "COMMIT");
}

size_t
store_batch_rows(const struct store *s)
{
	return s->rows;
}

size_t
store_batch_bytes(const struct store *s)
{
	return s->copy_len;
}

static int
reserve(struct store *s, size_t more)
{
	size_t cap = s->copy_cap ? s->copy_cap : 65536;
	char *p;

	if (s->copy_len + more <= s->copy_cap)
		return 0;
	while (cap < s->copy_len + more)
		cap *= 2;
	if ((p = realloc(s->copy, cap)) == NULL)
		return -1;
	s->copy = p;
	s->copy_cap = cap;
	return 0;
}

/* Appends one column in COPY text format: \N for NULL, and the four
 * characters COPY treats specially escaped. */
static void
put_text(struct store *s, const struct store_text *t, char sep)
{
	char *o = s->copy + s->copy_len;

	if (t->s == NULL) {
		*o++ = '\\';
		*o++ = 'N';
	} else {
		for (size_t i = 0; i < t->n; i++) {
			char c = t->s[i];

			switch (c) {
			case '\\': *o++ = '\\'; *o++ = '\\'; break;
			case '\n': *o++ = '\\'; *o++ = 'n'; break;
			case '\r': *o++ = '\\'; *o++ = 'r'; break;
			case '\t': *o++ = '\\'; *o++ = 't'; break;
			default: *o++ = c;
			}
		}
	}
	*o++ = sep;
	s->copy_len = (size_t)(o - s->copy);
}

int
store_add(struct store *s, const struct store_row *r)
{
	const struct store_text *cols[] = { &r->message_id, &r->user_id,
	    &r->device_type, &r->masked_ip, &r->masked_device_id, &r->locale };
	size_t need = 64;	/* seq, app_version, date, separators */
	int n;

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		need += 2 * cols[i]->n + 3;	/* each byte escaped, worst case */
	need += r->create_date.n * 2 + 3;
	if (reserve(s, need) < 0)
		return -1;
	n = snprintf(s->copy + s->copy_len, need, "%zu\t", s->rows);
	s->copy_len += (size_t)n;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		put_text(s, cols[i], '\t');
	if (r->has_app_version)
		n = snprintf(s->copy + s->copy_len, 24, "%ld\t",
		    r->app_version);
	else
		n = snprintf(s->copy + s->copy_len, 24, "\\N\t");
	s->copy_len += (size_t)n;
	put_text(s, &r->create_date, '\n');
	s->rows++;
	return 0;
}

/* Creates the staging table and prepares the insert, once a session. */
static int
prepare(struct store *s)
{
	PGresult *res;

	if (s->prepared)
		return 0;
	if (run(s, "creating the staging table", stage_sql) < 0)
		return -1;
	res = PQprepare(s->conn, "pg_load_insert", insert_sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_error(s, "preparing the insert", res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	s->prepared = 1;
	return 0;
}

/* Sends the batch through COPY; inside the open transaction. */
static int
copy_batch(struct store *s)
{
	PGresult *res = PQexec(s->conn, "COPY pg_load_stage FROM STDIN");
	int ok;

	if (PQresultStatus(res) != PGRES_COPY_IN) {
		set_error(s, "starting COPY", res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (PQputCopyData(s->conn, s->copy, (int)s->copy_len) != 1 ||
	    PQputCopyEnd(s->conn, NULL) != 1) {
		set_error(s, "sending COPY data", NULL);
		return -1;
	}
	res = PQgetResult(s->conn);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		set_error(s, "COPY", res);
	PQclear(res);
	/* Drain to the end of the command, as libpq requires. */
	while ((res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	return ok ? 0 : -1;
}

int
store_commit(struct store *s, long *inserted)
{
	PGresult *res;
	int ok;

	*inserted = 0;
	if (s->rows == 0)
		return 0;
	if (prepare(s) < 0 || run(s, "BEGIN", "BEGIN") < 0)
		goto fail;
	if (copy_batch(s) < 0)
		goto rollback;
	res = PQexecPrepared(s->conn, "pg_load_insert", 0, NULL, NULL, NULL,
	    0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (ok)
		*inserted = atol(PQcmdTuples(res));
	else
		set_error(s, "inserting rows", res);
	PQclear(res);
	if (!ok)
		goto rollback;
	/* Whatever COMMIT answers, if it fails we cannot know the batch
	 * is stored, so we say it is not: at worst it comes again and the
	 * ledger skips it. */
	if (run(s, "COMMIT", "COMMIT") < 0)
		goto fail;
	s->rows = 0;
	s->copy_len = 0;
	return 0;
rollback:
	PQclear(PQexec(s->conn, "ROLLBACK"));
fail:
	s->rows = 0;
	s->copy_len = 0;
	return -1;
}
