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
 * This thread only cuts the input into batches of lines.  Committer
 * threads, one per connection (--connections), each take a batch, parse
 * it and store it: so parsing, the costlier half of pg-load's own work,
 * runs on several cores, and one committer parses while another waits
 * for the server.  The ledger's primary key arbitrates between the
 * connections as between any two loaders.  Only the committers write
 * standard output, one whole batch of lines at a time.
 */
#include <stdatomic.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "jfields.h"
#include "ndjson.h"
#include "jsonw.h"
#include "lines.h"
#include "login.h"
#include "rowline.h"
#include "stats.h"
#include "store.h"
#include "tool.h"

#define MAX_BATCH_BYTES (4 << 20)	/* input lines of one batch */
#define MAX_CONNECTIONS 16

struct loader;

/* A batch: its lines as read, then the rows parsed from them. */
struct slot {
	struct obuf lines;	/* each line and its newline */
	size_t nlines;
	size_t first_lineno;	/* of its first line, for warnings */
	struct store_batch batch;
};

/* One connection and the thread that parses and stores batches on it. */
struct committer {
	struct loader *ld;
	struct store *store;
	struct jfields_parser parser;
	pthread_t thread;
	struct obuf out;	/* lines to write after a batch */
};

struct loader {
	long batch_rows;
	long flush_ms;
	struct timespec batch_started;
	atomic_long unusable;	/* lines neither row nor reject */
	int nconn;
	struct committer *comm;
	struct slot *slots;	/* nconn + 1 */
	struct slot *cur;	/* the batch being filled */
	/* Handed between the threads, under mu: */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot **todo;	/* FIFO of batches to store */
	size_t todo_head, ntodo;
	struct slot **spare;	/* stack of empty batches */
	size_t nspare;
	int done;		/* no more batches will come */
	/* Standard output and the progress line, shared by the committers: */
	pthread_mutex_t out_mu;
	struct stats stats;
	struct store_options store_options;
	struct outage postgresql;	/* the server's, logged and counted */
};

enum { S_LINES, S_STORED, S_DUPLICATES, S_REJECTED, S_REFUSED, S_BATCHES };
static const struct stats_counter counters[] = {
	{ "lines", "read_lines", "Lines read." },
	{ "stored", "stored_rows", "Rows committed to user_logins." },
	{ "duplicates", "duplicate_messages", "Messages committed before, "
	    "acknowledged again and not stored twice." },
	/* both in fetch_awards_rejects_total{reason}: */
	{ "rejected", NULL, NULL },
	{ "refused", NULL, NULL },
	{ "batches", "committed_batches", "Transactions committed." },
	{ NULL, NULL, NULL },
};

static void
usage(FILE *f)
{
	fputs("usage: pg-load [--dbname CONNINFO] [--create] [--batch-rows N]\n"
	    "               [--connections N] [--flush-ms MS] [--retry-seconds S]\n"
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
	    "  -C, --connections N      store up to N batches at once, each on its\n"
	    "                           own connection (default 3)\n"
	    "  -r, --retry-seconds S    give up on a server that is away, or a batch\n"
	    "                           that keeps failing, after S seconds (default:\n"
	    "                           wait as long as it takes; 60 with\n"
	    "                           --prune-ledger)\n"
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
	struct committer *c = ctx;
	struct loader *ld = c->ld;
	const struct ndjson_ids *ids = r->ids;
	struct obuf *o = &c->out;

	if (r->reason != NULL) {	/* stats count atomically */
		stats_add(&ld->stats, r->refused ? S_REFUSED : S_REJECTED, 1);
		stats_reason(&ld->stats, r->reason, r->reason_len);
	} else
		stats_add(&ld->stats, r->duplicate ? S_DUPLICATES : S_STORED, 1);
	stats_lag(&ld->stats, ids->sent_timestamp);

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
	if (r->refused)
		tool_log_message(0, ids->message_id.s, ids->message_id.n,
		    "refused by the server", r->reason, r->reason_len);
	if (r->reason != NULL)	/* pg-load's own reject */
		ndjson_reject_write(o, r->reason, r->reason_len, ids, NULL);
	else
		ndjson_ack_write(o, ids);
}

static void load_line(struct committer *c, struct store_batch *b,
    const char *line, size_t len, size_t lineno);

/* Parses a batch's lines into its rows. */
static void
parse_slot(struct committer *c, struct slot *sl)
{
	const char *p = sl->lines.p, *end = p + sl->lines.len;
	size_t lineno = sl->first_lineno;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		load_line(c, &sl->batch, p, (size_t)(nl - p), lineno++);
		p = nl + 1;
	}
	obuf_clear(&sl->lines);
	sl->nlines = 0;
}

/* A committer thread: parses and stores each batch handed to it, then
 * writes and flushes what it says.  A failure ends the process. */
static void *
committer(void *arg)
{
	struct committer *c = arg;
	struct loader *ld = c->ld;

	for (;;) {
		struct slot *sl;
		struct timespec t0;
		size_t items;

		pthread_mutex_lock(&ld->mu);
		while (ld->ntodo == 0 && !ld->done)
			pthread_cond_wait(&ld->cv, &ld->mu);
		if (ld->ntodo == 0) {
			pthread_mutex_unlock(&ld->mu);
			return NULL;
		}
		sl = ld->todo[ld->todo_head];
		ld->todo_head = (ld->todo_head + 1) % (size_t)(ld->nconn + 1);
		ld->ntodo--;
		pthread_mutex_unlock(&ld->mu);

		parse_slot(c, sl);
		items = sl->batch.nitems;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (store_commit(c->store, &sl->batch, write_result, c) < 0)
			errx(EXIT_DB, "%s; batch of %zu lines not stored, none "
			    "acknowledged", store_error(c->store), items);
		pthread_mutex_lock(&ld->out_mu);
		xwrite(&c->out);
		if (items > 0) {
			stats_latency(&ld->stats, &t0);
			stats_add(&ld->stats, S_BATCHES, 1);
		}
		stats_tick(&ld->stats);
		pthread_mutex_unlock(&ld->out_mu);

		pthread_mutex_lock(&ld->mu);
		ld->spare[ld->nspare++] = sl;
		pthread_cond_broadcast(&ld->cv);
		pthread_mutex_unlock(&ld->mu);
	}
}

/* Hands the batch being filled to the committers (waiting while every
 * other batch is still being stored) and goes on with an empty one. */
static void
flush_batch(struct loader *ld)
{
	size_t n = (size_t)ld->nconn + 1;

	if (ld->cur->nlines == 0)
		return;
	pthread_mutex_lock(&ld->mu);
	ld->todo[(ld->todo_head + ld->ntodo++) % n] = ld->cur;
	pthread_cond_broadcast(&ld->cv);
	while (ld->nspare == 0) {
		struct timespec until;

		/* Every batch is being stored (or retried while the server
		 * is away): wait, showing now and then that we live. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += STATS_TICK_MS / 1000;
		if (pthread_cond_timedwait(&ld->cv, &ld->mu, &until) == 0)
			continue;
		pthread_mutex_unlock(&ld->mu);
		pthread_mutex_lock(&ld->out_mu);
		stats_tick(&ld->stats);
		pthread_mutex_unlock(&ld->out_mu);
		pthread_mutex_lock(&ld->mu);
	}
	ld->cur = ld->spare[--ld->nspare];
	pthread_mutex_unlock(&ld->mu);
}

/* Hands over the last batch and waits until everything is stored. */
static void
finish(struct loader *ld)
{
	flush_batch(ld);
	pthread_mutex_lock(&ld->mu);
	ld->done = 1;
	pthread_cond_broadcast(&ld->cv);
	pthread_mutex_unlock(&ld->mu);
	for (int i = 0; i < ld->nconn; i++)
		pthread_join(ld->comm[i].thread, NULL);
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

/* Parses one line into the batch: a row, or a reject. */
static void
load_line(struct committer *c, struct store_batch *b, const char *line,
    size_t len, size_t lineno)
{
	struct rowline l;
	int added;

	switch (rowline_parse(&c->parser, line, len, &l)) {
	case ROWLINE_EJSON:
	case ROWLINE_EREJECT:
	case ROWLINE_EROW:
		/* Not usable: a reject of pg-load's own, recorded and passed
		 * on like pii-mask's, never dropped with a log line only. */
		tool_log_message(lineno, l.row.ids.message_id.s,
		    l.row.ids.message_id.n, "not usable", l.why, strlen(l.why));
		c->ld->unusable++;
		added = store_add_reject(b, &l.row.ids, l.why, strlen(l.why),
		    NULL, 0);
		break;
	case ROWLINE_REJECT: {
		size_t n = l.reason_len > 200 ? 200 : l.reason_len;

		tool_log_message(lineno, l.row.ids.message_id.s,
		    l.row.ids.message_id.n, "rejected", l.reason, n);
		added = store_add_reject(b, &l.row.ids, l.reason, n, line, len);
		break;
	}
	case ROWLINE_ROW:
	default:
		added = store_add_row(b, &l.row);
		break;
	}
	if (added < 0)
		err(EXIT_IO, "out of memory");
}

/* Adds a line to the batch being filled, and hands the batch over when
 * it is full. */
static void
add_line(struct loader *ld, const char *line, size_t len, size_t lineno)
{
	struct slot *sl = ld->cur;

	if (sl->nlines == 0) {
		sl->first_lineno = lineno;
		clock_gettime(CLOCK_MONOTONIC, &ld->batch_started);
	}
	obuf_put(&sl->lines, line, len);
	obuf_putc(&sl->lines, '\n');
	if (sl->lines.oom)
		errx(EXIT_IO, "out of memory");
	sl->nlines++;
	if (sl->nlines >= (size_t)ld->batch_rows ||
	    sl->lines.len >= MAX_BATCH_BYTES)
		flush_batch(ld);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname", required_argument, NULL, 'd' },
		{ "create", no_argument, NULL, 'c' },
		{ "batch-rows", required_argument, NULL, 'b' },
		{ "connections", required_argument, NULL, 'C' },
		{ "flush-ms", required_argument, NULL, 'f' },
		{ "retry-seconds", required_argument, NULL, 'r' },
		{ "prune-ledger", required_argument, NULL, 'P' },
		STATS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct loader ld = { .batch_rows = 5000, .flush_ms = 200, .nconn = 3,
	    .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	    .out_mu = PTHREAD_MUTEX_INITIALIZER };
	const char *conninfo = NULL, *line;
	long retry_s = -1, prune_days = -1;
	int c, create = 0;
	struct lines in;
	sigset_t sigs;
	char why[512];
	size_t len;

	while ((c = getopt_long(argc, argv, STATS_SHORTOPTS "d:cb:C:f:r:P:hV",
	    longopts, NULL)) != -1) {
		if (xstats_option(&ld.stats, c, optarg))
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
		case 'C':
			ld.nconn = (int)xnumber(optarg, "--connections", 1,
			    MAX_CONNECTIONS);
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
	if (prune_days > 0)
		ld.nconn = 1;
	/* From here a signal stops the tool cleanly, even while it
	 * connects (tool.h). */
	tool_catch_signals();
	/* Before anything can fail: a failing exit leaves its stats too. */
	ld.stats.lag_measured = 1;
	stats_init(&ld.stats, "pg-load", counters, "lines");
	stats_watch(&ld.stats, &ld.postgresql);
	/* A loader waits out a database outage (the messages it holds are
	 * not acknowledged meanwhile); a pruning job is one of many runs. */
	if (retry_s < 0 && prune_days > 0)
		retry_s = 60;
	ld.store_options = (struct store_options){ .conninfo = conninfo,
	    .retry_ms = retry_s < 0 ? -1 : retry_s * 1000, .stop = &tool_stop,
	    .outage = &ld.postgresql };
	ld.postgresql.service = "postgresql";
	ld.postgresql.report = tool_outage_report;
	if ((ld.comm = calloc((size_t)ld.nconn, sizeof(*ld.comm))) == NULL ||
	    (ld.slots = calloc((size_t)ld.nconn + 1,
	    sizeof(*ld.slots))) == NULL ||
	    (ld.todo = calloc((size_t)ld.nconn + 1, sizeof(*ld.todo))) == NULL ||
	    (ld.spare = calloc((size_t)ld.nconn + 1, sizeof(*ld.spare))) == NULL)
		err(EXIT_IO, "out of memory");
	for (int i = 0; i < ld.nconn; i++) {
		ld.comm[i].ld = &ld;
		jfields_init(&ld.comm[i].parser, NDJSON_MAX_DEPTH, 0);
		if ((ld.comm[i].store = store_open(&ld.store_options, why,
		    sizeof(why))) == NULL)
			errx(EXIT_DB, "%s", why);
		if (i == 0 && create && store_create(ld.comm[0].store) < 0)
			errx(EXIT_DB, "%s", store_error(ld.comm[0].store));
	}
	if (prune_days > 0)
		prune(ld.comm[0].store, prune_days);
	tool_init_output();
	if (lines_init(&in, 0, NDJSON_MAX_LINE) < 0)
		err(EXIT_IO, "line buffer");
	ld.cur = &ld.slots[0];
	for (int i = 1; i <= ld.nconn; i++)
		ld.spare[ld.nspare++] = &ld.slots[i];
	/* The committers never take SIGTERM or SIGINT: the signal must
	 * interrupt this thread's read. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	for (int i = 0; i < ld.nconn; i++)
		if ((errno = pthread_create(&ld.comm[i].thread, NULL, committer,
		    &ld.comm[i])) != 0)
			err(EXIT_IO, "starting a committer thread");
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	for (;;) {
		long wait = -1;
		enum lines_result r;

		/* SIGTERM, SIGINT: stop reading; the batches read are
		 * stored and acknowledged below, then exit 0. */
		if (tool_stop)
			break;

		/* A partial batch waits at most flush_ms from its first row,
		 * so acknowledgements flow in a quiet live pipeline; and the
		 * loop wakes at least every STATS_TICK_MS to show it lives. */
		if (ld.cur->nlines > 0) {
			wait = ld.flush_ms - ms_since(&ld.batch_started);
			if (wait < 0)
				wait = 0;
		}
		r = lines_next(&in, wait < 0 || wait > STATS_TICK_MS ?
		    STATS_TICK_MS : (int)wait, &line, &len);
		if (r == LINES_EOF)
			break;
		if (r == LINES_ERROR)
			err(EXIT_IO, "reading standard input");
		if (r == LINES_TIMEOUT) {
			if (ld.cur->nlines > 0 && ms_since(&ld.batch_started) >=
			    ld.flush_ms)
				flush_batch(&ld);
			pthread_mutex_lock(&ld.out_mu);
			stats_tick(&ld.stats);
			pthread_mutex_unlock(&ld.out_mu);
			continue;
		}
		if (r == LINES_TOOLONG) {
			warnx("line %zu: longer than 6 MiB; skipped", in.lineno);
			ld.unusable++;
			continue;
		}
		stats_add(&ld.stats, S_LINES, 1);
		add_line(&ld, line, len, in.lineno);
	}
	finish(&ld);
	stats_finish(&ld.stats);
	for (int i = 0; i <= ld.nconn; i++) {
		store_batch_free(&ld.slots[i].batch);
		obuf_free(&ld.slots[i].lines);
	}
	for (int i = 0; i < ld.nconn; i++) {
		store_close(ld.comm[i].store);
		obuf_free(&ld.comm[i].out);
		jfields_free(&ld.comm[i].parser);
	}
	free(ld.comm);
	free(ld.slots);
	free(ld.todo);
	free(ld.spare);
	lines_free(&in);
	xexit(NULL, ld.unusable > 0 ? EXIT_PARTIAL : EXIT_OK);
}
