/*
 * pg-load - store pii-mask rows in PostgreSQL, then acknowledge them.
 *
 * Gathers row lines into batches and stores each batch in one
 * transaction, exactly once per message_id (store.h).  Only after COMMIT
 * succeeds does it write {"message_id","receipt_handle"} for every row of
 * the batch, including redelivered ones the ledger kept out.  Reject
 * lines are logged and not acknowledged, so the queue's redrive policy
 * parks them.
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "jfields.h"
#include "jsonw.h"
#include "lines.h"
#include "login.h"
#include "store.h"
#include "tool.h"

#define MAX_BATCH_BYTES (16 << 20)	/* COPY text kept for one batch */
#define MAX_MASK 256			/* masked_ip, masked_device_id */

enum { L_MESSAGE_ID, L_RECEIPT_HANDLE, L_REJECT, L_ROW, L_USER_ID,
    L_DEVICE_TYPE, L_MASKED_IP, L_MASKED_DEVICE_ID, L_LOCALE, L_APP_VERSION,
    L_CREATE_DATE, L_COUNT };

struct loader {
	struct store *store;
	struct jfields_parser parser;
	struct obuf acks;	/* acknowledgements of the uncommitted batch */
	struct obuf out;	/* acknowledgements committed, to be written */
	long batch_rows;
	long flush_ms;
	struct timespec batch_started;
	long unusable;		/* lines neither row nor reject */
};

static void
usage(FILE *f)
{
	fputs("usage: pg-load [--dbname CONNINFO] [--create] [--batch-rows N]\n"
	    "               [--flush-ms MS]\n"
	    "\n"
	    "Stores pii-mask rows in user_logins, exactly once per message_id, and\n"
	    "after each commit writes one acknowledgement line per stored row.\n"
	    "\n"
	    "  -d, --dbname CONNINFO  libpq connection string or URI\n"
	    "                         (default: the PG* environment)\n"
	    "  -c, --create           create user_logins and its ledger if missing\n"
	    "  -b, --batch-rows N     rows per transaction (default 5000)\n"
	    "  -f, --flush-ms MS      commit a partial batch once its first row\n"
	    "                         has waited MS milliseconds (default 200)\n"
	    "  -h, --help             show this help\n"
	    "\n"
	    "Exit status: 0 done (rejects included), 1 some lines unusable,\n"
	    "2 usage, 4 reading or writing failed, 6 PostgreSQL failed.\n", f);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L +
	    (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Commits the batch, then writes and flushes its acknowledgements. */
static void
flush_batch(struct loader *ld)
{
	long inserted;	/* not reported yet: redeliveries make it < rows */
	size_t rows = store_batch_rows(ld->store);

	if (rows == 0)
		return;
	if (store_commit(ld->store, &inserted) < 0)
		errx(EXIT_DB, "%s; batch of %zu rows not stored, none "
		    "acknowledged", store_error(ld->store), rows);
	obuf_put(&ld->out, ld->acks.p, ld->acks.len);
	if (ld->acks.oom)
		ld->out.oom = 1;	/* reported as ENOMEM by the write */
	obuf_clear(&ld->acks);
	xwrite(&ld->out);
}

/* A string field of a row: string, or null when allowed.  Returns 0. */
static int
text_of(const struct jfields_field *f, int nullable, size_t limit,
    struct store_text *out)
{
	out->s = NULL;
	out->n = 0;
	if (f->type == JF_NULL || f->type == JF_ABSENT)
		return nullable ? 0 : -1;
	if (f->type != JF_STRING ||
	    login_check_text(f->str, f->len, limit) != NULL)
		return -1;
	out->s = f->str;
	out->n = f->len;
	return 0;
}

/* A calendar date written YYYY-MM-DD. */
static int
valid_date(const struct store_text *t)
{
	struct tm tm = { 0 };
	char buf[11];
	const char *end;

	if (t->s == NULL)
		return 1;
	if (t->n != 10)
		return 0;
	memcpy(buf, t->s, 10);
	buf[10] = '\0';
	end = strptime(buf, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return 0;
	/* strptime accepts 02-30; normalising it would move the day */
	tm.tm_isdst = 0;
	{
		struct tm copy = tm;

		if (timegm(&copy) == (time_t)-1 || copy.tm_mday != tm.tm_mday)
			return 0;
	}
	return 1;
}

/* Turns a row line's fields into a store row.  Returns 0, or -1. */
static int
row_of(struct jfields_field *f, struct store_row *r)
{
	const struct jfields_field *v = &f[L_APP_VERSION];

	memset(r, 0, sizeof(*r));
	if (text_of(&f[L_USER_ID], 0, LOGIN_MAX_USER_ID, &r->user_id) < 0 ||
	    text_of(&f[L_DEVICE_TYPE], 1, LOGIN_MAX_SHORT, &r->device_type) < 0 ||
	    text_of(&f[L_MASKED_IP], 1, MAX_MASK, &r->masked_ip) < 0 ||
	    text_of(&f[L_MASKED_DEVICE_ID], 1, MAX_MASK,
	    &r->masked_device_id) < 0 ||
	    text_of(&f[L_LOCALE], 1, LOGIN_MAX_SHORT, &r->locale) < 0 ||
	    text_of(&f[L_CREATE_DATE], 1, 10, &r->create_date) < 0 ||
	    text_of(&f[L_MESSAGE_ID], 1, 0, &r->message_id) < 0 ||
	    !valid_date(&r->create_date))
		return -1;
	if (v->type == JF_NUMBER) {
		char num[16], *end;

		if (v->len >= sizeof(num))
			return -1;
		memcpy(num, v->str, v->len);
		num[v->len] = '\0';
		r->app_version = strtol(num, &end, 10);
		if (*end != '\0' || r->app_version < -2147483647L - 1 ||
		    r->app_version > 2147483647L)
			return -1;
		r->has_app_version = 1;
	} else if (v->type != JF_NULL && v->type != JF_ABSENT)
		return -1;
	return 0;
}

static void
load_line(struct loader *ld, const char *line, size_t len, size_t lineno)
{
	struct jfields_field f[L_COUNT] = {
		[L_MESSAGE_ID] = JF_FIELD("message_id"),
		[L_RECEIPT_HANDLE] = JF_FIELD("receipt_handle"),
		[L_REJECT] = JF_FIELD("reject"),
		[L_ROW] = JF_FIELD("row"),
		[L_USER_ID] = JF_CHILD("row", "user_id"),
		[L_DEVICE_TYPE] = JF_CHILD("row", "device_type"),
		[L_MASKED_IP] = JF_CHILD("row", "masked_ip"),
		[L_MASKED_DEVICE_ID] = JF_CHILD("row", "masked_device_id"),
		[L_LOCALE] = JF_CHILD("row", "locale"),
		[L_APP_VERSION] = JF_CHILD("row", "app_version"),
		[L_CREATE_DATE] = JF_CHILD("row", "create_date"),
	};
	const struct jfields_field *id = &f[L_MESSAGE_ID];
	const struct jfields_field *rh = &f[L_RECEIPT_HANDLE];
	struct store_row r;

	if (jfields_parse(&ld->parser, line, len, f, L_COUNT) != JF_OK ||
	    (rh->type != JF_STRING && rh->type != JF_NULL &&
	    rh->type != JF_ABSENT)) {
		warnx("line %zu: not a pii-mask line; skipped", lineno);
		ld->unusable++;
		return;
	}
	if (f[L_REJECT].type == JF_STRING) {
		/* pii-mask's reasons are fixed phrases; print them as
		 * JSON so nothing in them can forge a log line. */
		struct obuf msg = { .len = 0 };

		obuf_puts(&msg, "pg-load: line ");
		obuf_putll(&msg, (long long)lineno);
		obuf_puts(&msg, ": message ");
		jsonw_string_or_null(&msg, id->type == JF_STRING ? id->str :
		    NULL, id->len);
		obuf_puts(&msg, " rejected: ");
		jsonw_string(&msg, f[L_REJECT].str, f[L_REJECT].len > 200 ?
		    200 : f[L_REJECT].len);
		obuf_putc(&msg, '\n');
		(void)obuf_write(&msg, STDERR_FILENO);	/* best effort */
		obuf_free(&msg);
		return;
	}
	if (f[L_ROW].type != JF_OBJECT || row_of(f, &r) < 0) {
		warnx("line %zu: row invalid; skipped", lineno);
		ld->unusable++;
		return;
	}
	if (store_batch_rows(ld->store) == 0)
		clock_gettime(CLOCK_MONOTONIC, &ld->batch_started);
	if (store_add(ld->store, &r) < 0)
		err(EXIT_IO, "out of memory");
	if (rh->type == JF_STRING) {
		obuf_puts(&ld->acks, "{\"message_id\":");
		jsonw_string_or_null(&ld->acks, r.message_id.s, r.message_id.n);
		obuf_puts(&ld->acks, ",\"receipt_handle\":");
		jsonw_string(&ld->acks, rh->str, rh->len);
		obuf_puts(&ld->acks, "}\n");
	}
	if (store_batch_rows(ld->store) >= (size_t)ld->batch_rows ||
	    store_batch_bytes(ld->store) >= MAX_BATCH_BYTES)
		flush_batch(ld);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname", required_argument, NULL, 'd' },
		{ "create", no_argument, NULL, 'c' },
		{ "batch-rows", required_argument, NULL, 'b' },
		{ "flush-ms", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct loader ld = { .batch_rows = 5000, .flush_ms = 200 };
	const char *conninfo = NULL, *line;
	int c, create = 0;
	struct lines in;
	char why[512];
	size_t len;

	while ((c = getopt_long(argc, argv, "d:cb:f:h", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'd':
			conninfo = optarg;
			break;
		case 'c':
			create = 1;
			break;
		case 'b':
			ld.batch_rows = xnumber(optarg, "--batch-rows", 1,
			    1000000);
			break;
		case 'f':
			ld.flush_ms = xnumber(optarg, "--flush-ms", 0, 3600000);
			break;
		case 'h':
			usage(stdout);
			xexit(NULL, EXIT_OK);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(EXIT_USAGE);
	}
	if ((ld.store = store_open(conninfo, why, sizeof(why))) == NULL)
		errx(EXIT_DB, "%s", why);
	if (create && store_create(ld.store) < 0)
		errx(EXIT_DB, "%s", store_error(ld.store));
	tool_init_output();
	if (lines_init(&in, 0, LOGIN_MAX_LINE) < 0)
		err(EXIT_IO, "line buffer");
	jfields_init(&ld.parser, LOGIN_MAX_DEPTH, 0);
	for (;;) {
		long wait = -1;
		enum lines_result r;

		/* A partial batch waits at most flush_ms from its first row,
		 * so acknowledgements flow in a quiet live pipeline. */
		if (store_batch_rows(ld.store) > 0) {
			wait = ld.flush_ms - ms_since(&ld.batch_started);
			if (wait < 0)
				wait = 0;
		}
		r = lines_next(&in, (int)wait, &line, &len);
		if (r == LINES_EOF)
			break;
		if (r == LINES_ERROR)
			err(EXIT_IO, "reading standard input");
		if (r == LINES_TIMEOUT) {
			if (wait >= 0 && ms_since(&ld.batch_started) >=
			    ld.flush_ms)
				flush_batch(&ld);
			continue;
		}
		if (r == LINES_TOOLONG) {
			warnx("line %zu: longer than 6 MiB; skipped", in.lineno);
			ld.unusable++;
			continue;
		}
		load_line(&ld, line, len, in.lineno);
	}
	flush_batch(&ld);
	obuf_free(&ld.acks);
	jfields_free(&ld.parser);
	lines_free(&in);
	store_close(ld.store);
	xexit(&ld.out, ld.unusable > 0 ? EXIT_PARTIAL : EXIT_OK);
}
