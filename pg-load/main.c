/*
 * pg-load - store pii-mask rows in PostgreSQL, then acknowledge them.
 *
 * Gathers row lines into batches and stores each batch in one
 * transaction, exactly once per message_id (store.h).  Only after COMMIT
 * succeeds does it write {"message_id","receipt_handle"} for every row of
 * the batch, including redelivered ones the ledger kept out.  Reject
 * lines are logged, recorded and passed on, not acknowledged, so the
 * queue's redrive policy parks them.
 *
 * Two threads: this one reads and parses lines into one batch while a
 * committer thread stores the previous one, so parsing and PostgreSQL's
 * work overlap.  Only the committer writes standard output.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
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
#include "rowline.h"
#include "stats.h"
#include "store.h"
#include "tool.h"

#define MAX_BATCH_BYTES (4 << 20)	/* COPY data and ids of one batch */

struct loader {
	struct store *store;
	struct jfields_parser parser;
	long batch_rows;
	long flush_ms;
	struct timespec batch_started;
	long unusable;		/* lines neither row nor reject */
	struct store_batch batch[2];
	struct store_batch *cur;	/* the batch being filled */
	/* Handed between the threads, under mu: */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_batch *todo;	/* for the committer, until stored */
	int done;		/* no more batches will come */
	struct obuf out;	/* the committer's: lines to write */
	struct stats stats;
};

enum { S_LINES, S_STORED, S_DUPLICATES, S_REJECTED, S_REFUSED, S_BATCHES };

static void
usage(FILE *f)
{
	fputs("usage: pg-load [--dbname CONNINFO] [--create] [--batch-rows N]\n"
	    "               [--flush-ms MS] [--retry-seconds S]\n"
	    "       pg-load [--dbname CONNINFO] --prune-ledger DAYS\n"
	    "\n"
	    "Stores pii-mask rows in user_logins, exactly once per message_id, and\n"
	    "after each commit writes one acknowledgement line per stored row and\n"
	    "one reject line per rejected or refused row.\n"
	    "\n"
	    "  -d, --dbname CONNINFO    libpq connection string or URI\n"
	    "                           (default: the PG* environment)\n"
	    "  -c, --create             create user_logins, its ledger and its\n"
	    "                           rejects table if missing\n"
	    "  -b, --batch-rows N       rows per transaction (default 5000)\n"
	    "  -f, --flush-ms MS        commit a partial batch once its first row\n"
	    "                           has waited MS milliseconds (default 200)\n"
	    "  -r, --retry-seconds S    redo a failed batch on a new connection for\n"
	    "                           up to S seconds before giving up (default 60)\n"
	    "  -P, --prune-ledger DAYS  delete the ledger entries of messages sent\n"
	    "                           more than DAYS days ago (the queue's\n"
	    "                           retention and a margin), then exit\n"
	    STATS_USAGE
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
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

/* After COMMIT: an acknowledgement for each stored row with a receipt
 * handle, a reject line for each rejected or refused one. */
static void
write_result(void *ctx, const struct store_result *r)
{
	struct loader *ld = ctx;
	const struct store_ids *ids = r->ids;
	struct obuf *o = &ld->out;

	if (r->reason != NULL) {
		stats_add(&ld->stats, r->refused ? S_REFUSED : S_REJECTED, 1);
		stats_reason(&ld->stats, r->reason, r->reason_len);
	} else
		stats_add(&ld->stats, r->duplicate ? S_DUPLICATES : S_STORED, 1);

	if (r->reason == NULL && ids->receipt_handle.s == NULL)
		return;		/* a bare replay: nothing to acknowledge */
	if (r->line != NULL) {
		/* pii-mask's reject, passed on as it came (with its body,
		 * when pii-mask was asked to carry it for a dead-letter
		 * queue). */
		obuf_put(o, r->line, r->line_len);
		obuf_putc(o, '\n');
		return;
	}
	if (r->refused) {
		warnx("message %.*s refused: %.*s", ids->message_id.s ?
		    (int)ids->message_id.n : 6, ids->message_id.s ?
		    ids->message_id.s : "(none)", (int)r->reason_len,
		    r->reason);
	}
	if (r->reason != NULL) {
		obuf_puts(o, "{\"reject\":");
		jsonw_string(o, r->reason, r->reason_len);
		obuf_puts(o, ",\"message_id\":");
	} else
		obuf_puts(o, "{\"message_id\":");
	jsonw_string_or_null(o, ids->message_id.s, ids->message_id.n);
	obuf_puts(o, ",\"receipt_handle\":");
	jsonw_string_or_null(o, ids->receipt_handle.s, ids->receipt_handle.n);
	if (r->reason != NULL) {
		obuf_puts(o, ",\"sent_timestamp\":");
		jsonw_count_or_null(o, ids->sent_timestamp);
		obuf_puts(o, ",\"receive_count\":");
		jsonw_count_or_null(o, ids->receive_count);
	}
	obuf_puts(o, "}\n");
}

/* The committer thread: stores each batch handed to it, then writes
 * and flushes what it says.  A failure ends the process. */
static void *
committer(void *arg)
{
	struct loader *ld = arg;

	for (;;) {
		struct store_batch *b;
		struct timespec t0;
		size_t items;

		pthread_mutex_lock(&ld->mu);
		while (ld->todo == NULL && !ld->done)
			pthread_cond_wait(&ld->cv, &ld->mu);
		b = ld->todo;
		pthread_mutex_unlock(&ld->mu);
		if (b == NULL)
			return NULL;
		items = b->nitems;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (store_commit(ld->store, b, write_result, ld) < 0)
			errx(EXIT_DB, "%s; batch of %zu lines not stored, none "
			    "acknowledged", store_error(ld->store), items);
		xwrite(&ld->out);
		stats_latency(&ld->stats, &t0);
		stats_add(&ld->stats, S_BATCHES, 1);
		stats_tick(&ld->stats);	/* only this thread ticks */
		pthread_mutex_lock(&ld->mu);
		ld->todo = NULL;
		pthread_cond_broadcast(&ld->cv);
		pthread_mutex_unlock(&ld->mu);
	}
}

/* Hands the batch being filled to the committer (waiting while it still
 * stores the previous one) and goes on with the other. */
static void
flush_batch(struct loader *ld)
{
	if (ld->cur->nitems == 0)
		return;
	pthread_mutex_lock(&ld->mu);
	while (ld->todo != NULL)
		pthread_cond_wait(&ld->cv, &ld->mu);
	ld->todo = ld->cur;
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
	ld->cur = ld->cur == &ld->batch[0] ? &ld->batch[1] : &ld->batch[0];
}

/* Hands over the last batch and waits until everything is stored. */
static void
finish(struct loader *ld, pthread_t thread)
{
	flush_batch(ld);
	pthread_mutex_lock(&ld->mu);
	ld->done = 1;
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
	pthread_join(thread, NULL);
}

/* --prune-ledger: one pass, then exit. */
static void
prune(struct store *store, long days)
{
	long long deleted;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (store_prune(store, (long long)now.tv_sec * 1000 -
	    days * 86400000LL, &deleted) < 0)
		errx(EXIT_DB, "%s", store_error(store));
	fprintf(stderr, "pg-load: %lld ledger entries older than %ld days "
	    "deleted\n", deleted, days);
	store_close(store);
	xexit(NULL, EXIT_OK);
}

static void
load_line(struct loader *ld, const char *line, size_t len, size_t lineno)
{
	struct rowline l;
	int added;

	switch (rowline_parse(&ld->parser, line, len, &l)) {
	case ROWLINE_EJSON:
		warnx("line %zu: not a pii-mask line; skipped", lineno);
		ld->unusable++;
		return;
	case ROWLINE_EREJECT:
		warnx("line %zu: reject line invalid; skipped", lineno);
		ld->unusable++;
		return;
	case ROWLINE_EROW:
		warnx("line %zu: row invalid; skipped", lineno);
		ld->unusable++;
		return;
	case ROWLINE_REJECT: {
		struct store_ids *ids = &l.row.ids;
		struct obuf msg = { .len = 0 };
		size_t n = l.reason_len > 200 ? 200 : l.reason_len;

		/* pii-mask's reasons are fixed phrases; print them as
		 * JSON so nothing in them can forge a log line. */
		obuf_puts(&msg, "pg-load: line ");
		obuf_putll(&msg, (long long)lineno);
		obuf_puts(&msg, ": message ");
		jsonw_string_or_null(&msg, ids->message_id.s, ids->message_id.n);
		obuf_puts(&msg, " rejected: ");
		jsonw_string(&msg, l.reason, n);
		obuf_putc(&msg, '\n');
		(void)obuf_write(&msg, STDERR_FILENO);	/* best effort */
		obuf_free(&msg);
		added = store_add_reject(ld->cur, ids, l.reason, n, line, len);
		break;
	}
	case ROWLINE_ROW:
	default:
		added = store_add_row(ld->cur, &l.row);
		break;
	}
	if (added < 0)
		err(EXIT_IO, "out of memory");
	if (ld->cur->nitems == 1)
		clock_gettime(CLOCK_MONOTONIC, &ld->batch_started);
	if (ld->cur->nitems >= (size_t)ld->batch_rows ||
	    store_batch_bytes(ld->cur) >= MAX_BATCH_BYTES)
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
		{ "retry-seconds", required_argument, NULL, 'r' },
		{ "prune-ledger", required_argument, NULL, 'P' },
		STATS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct loader ld = { .batch_rows = 5000, .flush_ms = 200,
	    .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	pthread_t thread;
	const char *conninfo = NULL, *line;
	long retry_s = 60, prune_days = -1;
	int c, create = 0;
	struct lines in;
	char why[512];
	size_t len;

	while ((c = getopt_long(argc, argv, STATS_SHORTOPTS "d:cb:f:r:P:hV",
	    longopts, NULL)) != -1) {
		if (stats_option(&ld.stats, c, optarg))
			continue;
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
		case 'r':
			retry_s = xnumber(optarg, "--retry-seconds", 0, 86400);
			break;
		case 'P':
			prune_days = xnumber(optarg, "--prune-ledger", 1, 36500);
			break;
		case 'V':
			tool_version("pg-load");
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
	if ((ld.store = store_open(conninfo, retry_s * 1000, why,
	    sizeof(why))) == NULL)
		errx(EXIT_DB, "%s", why);
	if (create && store_create(ld.store) < 0)
		errx(EXIT_DB, "%s", store_error(ld.store));
	if (prune_days > 0)
		prune(ld.store, prune_days);
	tool_init_output();
	if (lines_init(&in, 0, LOGIN_MAX_LINE) < 0)
		err(EXIT_IO, "line buffer");
	jfields_init(&ld.parser, LOGIN_MAX_DEPTH, 0);
	ld.cur = &ld.batch[0];
	stats_init(&ld.stats, "pg-load", (const char *const[]){ "lines",
	    "stored", "duplicates", "rejected", "refused", "batches", NULL },
	    "lines");
	if ((errno = pthread_create(&thread, NULL, committer, &ld)) != 0)
		err(EXIT_IO, "starting the committer thread");
	for (;;) {
		long wait = -1;
		enum lines_result r;

		/* A partial batch waits at most flush_ms from its first row,
		 * so acknowledgements flow in a quiet live pipeline. */
		if (ld.cur->nitems > 0) {
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
		stats_add(&ld.stats, S_LINES, 1);
		load_line(&ld, line, len, in.lineno);
	}
	finish(&ld, thread);
	stats_finish(&ld.stats);
	store_batch_free(&ld.batch[0]);
	store_batch_free(&ld.batch[1]);
	jfields_free(&ld.parser);
	lines_free(&in);
	store_close(ld.store);
	xexit(&ld.out, ld.unusable > 0 ? EXIT_PARTIAL : EXIT_OK);
}
