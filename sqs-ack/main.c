/*
 * sqs-ack - delete acknowledged messages from an SQS queue.
 *
 * Reads lines carrying a receipt_handle (pg-load's acknowledgements, or
 * sqs-recv's own lines) and deletes those messages with
 * DeleteMessageBatch, up to 10 a call.  Reject lines are skipped: their
 * messages stay on the queue until the redrive policy parks them.
 * A batch is sent when it is full or when the next line would make us
 * wait, so deletes follow commits closely.
 *
 * The main thread reads lines and forms batches; --concurrency N delete
 * workers, each a thread with its own client and kept connection, send
 * them, so N calls can be in flight at once.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "jfields.h"
#include "lines.h"
#include "login.h"
#include "sqs.h"
#include "sqstool.h"
#include "stats.h"
#include "tool.h"

#define BATCH 10		/* the most DeleteMessageBatch takes */

enum { S_DELETED, S_STALE, S_FAILED, S_PARKED, S_CALLS };
static struct stats stats;	/* counted from every thread */

enum { A_MESSAGE_ID, A_RECEIPT_HANDLE, A_REJECT, A_BODY, A_COUNT };

struct batch {
	struct sqs_delete entry[BATCH];
	char *message_id[BATCH];	/* for reports; may be NULL */
	size_t n;
};

static void
usage(FILE *f)
{
	fputs("usage: sqs-ack [--queue-url URL] [--dead-letter-queue URL]\n"
	    "               [--endpoint-url URL] [--protocol P] [--ca-bundle FILE]\n"
	    "\n"
	    "Deletes from an SQS queue every message whose receipt_handle is read\n"
	    "on standard input; lines with a \"reject\" key are skipped.  SIGTERM\n"
	    "or SIGINT stops it after deleting what it has read.\n"
	    "\n"
	    SQSTOOL_USAGE
	    "  -D, --dead-letter-queue URL\n"
	    "                           send the body of each reject line to this\n"
	    "                           queue, then delete the message (needs\n"
	    "                           pii-mask --reject-body)\n"
	    "  -c, --concurrency N      N deletes in flight at once, 1-64 (default 1)\n"
	    STATS_USAGE
	    "  -h, --help               show this help\n"
	    "\n"
	    "Exit status: 0 all deleted (or their handles had expired), 1 some\n"
	    "not deleted or lines unusable,\n"
	    "2 usage, 3 configuration, 4 reading failed, 5 SQS failed.\n", f);
}

static void
batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free((char *)b->entry[i].receipt_handle);
		free(b->message_id[i]);
	}
	b->n = 0;
}

/* Deletes the batch.  Returns the number of entries not deleted. */
static size_t
batch_send(struct sqs *q, struct batch *b)
{
	enum sqs_status st;
	size_t failed = 0;

	struct timespec t0;

	if (b->n == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((st = sqs_delete_batch(q, b->entry, b->n)) != SQS_OK)
		errx(sqstool_exit_status(st), "%s", sqs_error(q));
	stats_latency(&stats, &t0);
	stats_add(&stats, S_CALLS, 1);
	for (size_t i = 0; i < b->n; i++) {
		const char *id = b->message_id[i] ? b->message_id[i] :
		    "(no message_id)";

		if (b->entry[i].deleted) {
			stats_add(&stats, S_DELETED, 1);
			continue;
		}
		if (b->entry[i].stale) {
			stats_add(&stats, S_STALE, 1);
			/* Not an error of ours: the visibility timeout ran
			 * out, the message comes back, and pg-load's ledger
			 * keeps it from being stored twice. */
			warnx("message %s not deleted: %s (the receipt handle is "
			    "no longer valid; the message will come back)", id,
			    b->entry[i].code);
			continue;
		}
		warnx("message %s not deleted: %s", id, b->entry[i].code);
		stats_add(&stats, S_FAILED, 1);
		failed++;
	}
	batch_clear(b);
	return failed;
}

/*
 * Parks a rejected message: sends its body to the dead-letter queue.
 * Returns 1 when parked (delete it from the source), 0 when it stays on
 * the source queue.
 */
static int
park(struct sqs *dlq, const struct jfields_field *id,
    const struct jfields_field *body, long *failed)
{
	static int told;
	enum sqs_status st;

	if (body->type != JF_STRING) {
		if (!told++)
			warnx("reject lines carry no body (pii-mask "
			    "--reject-body): rejected messages stay on the "
			    "queue");
		return 0;
	}
	if ((st = sqs_send(dlq, body->str, body->len)) == SQS_OK) {
		stats_add(&stats, S_PARKED, 1);
		return 1;
	}
	if (st == SQS_EREFUSED)
		errx(EXIT_CONFIG, "dead-letter queue: %s", sqs_error(dlq));
	warnx("message %.*s not parked: %s", id->type == JF_STRING ?
	    (int)id->len : 1, id->type == JF_STRING ? id->str : "?",
	    sqs_error(dlq));
	++*failed;
	return 0;
}

/* Adds the line's receipt handle to the batch.  Returns 1 when added, 0
 * when the line asks for nothing (a reject, unless it was just parked
 * in dlq), -1 when it is unusable. */
static int
batch_add(struct batch *b, struct jfields_parser *p, const char *line,
    size_t len, struct sqs *dlq, long *failed)
{
	struct jfields_field f[A_COUNT] = {
		[A_MESSAGE_ID] = JF_FIELD("message_id"),
		[A_RECEIPT_HANDLE] = JF_FIELD("receipt_handle"),
		[A_REJECT] = JF_FIELD("reject"),
		[A_BODY] = JF_FIELD("body"),
	};
	struct jfields_field *id = &f[A_MESSAGE_ID], *rh = &f[A_RECEIPT_HANDLE];

	if (jfields_parse(p, line, len, f, A_COUNT) != JF_OK)
		return -1;
	if (rh->type != JF_STRING || rh->len == 0 ||
	    memchr(rh->str, '\0', rh->len) != NULL)
		return f[A_REJECT].type != JF_ABSENT ? 0 : -1;
	/* A reject is deleted only once it is safe in the dead-letter
	 * queue: a crash in between leaves it in both, never in neither. */
	if (f[A_REJECT].type != JF_ABSENT &&
	    (dlq == NULL || !park(dlq, id, &f[A_BODY], failed)))
		return 0;
	if ((b->entry[b->n].receipt_handle = strndup(rh->str, rh->len)) ==
	    NULL)
		err(EXIT_IO, "out of memory");
	b->message_id[b->n] = NULL;
	if (id->type == JF_STRING && memchr(id->str, '\0', id->len) == NULL &&
	    (b->message_id[b->n] = strndup(id->str, id->len)) == NULL)
		err(EXIT_IO, "out of memory");
	b->n++;
	return 1;
}

/* Batches handed from the reader to the delete workers; with one worker
 * there is no thread: the reader sends (a hand-off per batch costs more
 * CPU than the call). */
struct pool {
	struct sqs *clients[64];	/* one per worker, opened by main() */
	size_t taken;		/* clients handed to workers */
	struct sqs *inline_q;	/* concurrency 1: the reader's own client */
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	struct batch *queue[64];
	size_t head, count, cap;
	int done;
	size_t failed;		/* entries not deleted */
};

static void *
deleter(void *arg)
{
	struct pool *p = arg;
	struct sqs *q;

	pthread_mutex_lock(&p->mu);
	q = p->clients[p->taken++];
	pthread_mutex_unlock(&p->mu);

	for (;;) {
		struct batch *b;
		size_t failed;

		pthread_mutex_lock(&p->mu);
		while (p->count == 0 && !p->done)
			pthread_cond_wait(&p->more, &p->mu);
		if (p->count == 0) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		b = p->queue[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->mu);
		failed = batch_send(q, b);
		free(b);
		pthread_mutex_lock(&p->mu);
		p->failed += failed;
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* Hands *bp to the workers (waiting for room) and starts a new batch. */
static void
submit(struct pool *p, struct batch **bp)
{
	if ((*bp)->n == 0)
		return;
	if (p->inline_q != NULL) {
		p->failed += batch_send(p->inline_q, *bp);
		return;		/* batch_send emptied it */
	}
	pthread_mutex_lock(&p->mu);
	while (p->count == p->cap)
		pthread_cond_wait(&p->room, &p->mu);
	p->queue[(p->head + p->count++) % p->cap] = *bp;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->mu);
	if ((*bp = calloc(1, sizeof(**bp))) == NULL)
		err(EXIT_IO, "out of memory");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		SQSTOOL_LONGOPTS,
		{ "dead-letter-queue", required_argument, NULL, 'D' },
		{ "concurrency", required_argument, NULL, 'c' },
		STATS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sqstool t = { .queue_url = NULL }, dt;
	const char *line, *dlq_url = NULL;
	struct sqs *dlq = NULL;
	long parked_failed = 0;
	int read_error = 0;
	struct jfields_parser parser;
	struct pool pool = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .more = PTHREAD_COND_INITIALIZER, .room = PTHREAD_COND_INITIALIZER,
	    .cap = 1 };
	pthread_t threads[64];
	struct batch *b;
	size_t len, unusable = 0;
	struct lines in;
	int c;

	while ((c = getopt_long(argc, argv, SQSTOOL_SHORTOPTS STATS_SHORTOPTS "D:c:h",
	    longopts,
	    NULL)) != -1) {
		if (sqstool_option(&t, c, optarg) ||
		    stats_option(&stats, c, optarg))
			continue;
		switch (c) {
		case 'D':
			dlq_url = optarg;
			break;
		case 'c':
			pool.cap = (size_t)xnumber(optarg, "--concurrency", 1, 64);
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
	/* Every client opened here, so that a configuration error is
	 * reported once, before any thread runs. */
	for (size_t i = 0; i < pool.cap; i++)
		pool.clients[i] = xsqs_open(&t);
	if (pool.cap == 1)
		pool.inline_q = pool.clients[0];
	if (dlq_url != NULL) {
		dt = t;
		dt.queue_url = dlq_url;
		dlq = xsqs_open(&dt);
	}
	tool_init_output();
	sqstool_catch_signals();
	if (lines_init(&in, 0, LOGIN_MAX_LINE) < 0 ||
	    (b = calloc(1, sizeof(*b))) == NULL)
		err(EXIT_IO, "buffers");
	jfields_init(&parser, LOGIN_MAX_DEPTH, 0);

	stats_init(&stats, "sqs-ack", (const char *const[]){ "deleted",
	    "stale", "failed", "parked", "calls", NULL }, "deleted");
	for (size_t i = 0; pool.inline_q == NULL && i < pool.cap; i++)
		if ((errno = pthread_create(&threads[i], NULL, deleter,
		    &pool)) != 0)
			err(EXIT_IO, "starting a delete thread");
	while (!sqstool_stop) {
		enum lines_result r = lines_next(&in, b->n ? 0 : -1, &line, &len);

		if (r == LINES_EOF)
			break;
		if (r == LINES_ERROR) {
			/* What was read is committed upstream: delete it,
			 * then fail. */
			warn("reading standard input");
			read_error = 1;
			break;
		}
		if (r == LINES_TIMEOUT) {
			submit(&pool, &b);
			continue;
		}
		if (r == LINES_TOOLONG || batch_add(b, &parser, line,
		    len, dlq, &parked_failed) < 0) {
			warnx("line %zu: no receipt_handle; skipped",
			    in.lineno);
			unusable++;
		}
		if (b->n == BATCH) {
			submit(&pool, &b);
			stats_tick(&stats);
		}
	}
	submit(&pool, &b);	/* at the end, or when stopped */
	pthread_mutex_lock(&pool.mu);
	pool.done = 1;
	pthread_cond_broadcast(&pool.more);
	pthread_mutex_unlock(&pool.mu);
	for (size_t i = 0; pool.inline_q == NULL && i < pool.cap; i++)
		pthread_join(threads[i], NULL);
	for (size_t i = 0; i < pool.cap; i++)
		sqs_close(pool.clients[i]);
	stats_finish(&stats);
	free(b);
	jfields_free(&parser);
	lines_free(&in);
	sqs_close(dlq);
	if (read_error)
		exit(EXIT_IO);
	xexit(NULL, pool.failed || unusable || parked_failed ? EXIT_PARTIAL :
	    EXIT_OK);
}
