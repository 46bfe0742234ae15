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
 * With --concurrency N, up to N DeleteMessageBatch calls are in flight
 * at once, all driven by this one thread while it reads (sqs_run():
 * libcurl's multi interface over kept connections).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "jfields.h"
#include "ndjson.h"
#include "lines.h"
#include "login.h"
#include "sqs.h"
#include "sqstool.h"
#include "stats.h"
#include "tool.h"

#define BATCH 10		/* the most DeleteMessageBatch takes */

enum { S_DELETED, S_STALE, S_FAILED, S_PARKED, S_CALLS };
static const struct stats_counter counters[] = {
	{ "deleted", "deleted_messages", "Messages deleted from the queue." },
	{ "stale", "stale_receipts", "Receipt handles no longer valid: the "
	    "message comes back and is acknowledged then." },
	{ "failed", "failed_deletes", "Deletes the service refused." },
	{ "parked", "parked_messages", "Rejected messages sent to the "
	    "dead-letter queue." },
	{ "calls", "delete_requests", "DeleteMessageBatch requests "
	    "answered." },
	{ NULL, NULL, NULL },
};
static struct stats stats;


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
	    "or SIGINT stops it after deleting what it has read.  It waits out SQS\n"
	    "outages of any length, unless AWS_MAX_ATTEMPTS is set.\n"
	    "\n"
	    SQSTOOL_USAGE
	    "  -D, --dead-letter-queue URL\n"
	    "                           send the body of each reject line to this\n"
	    "                           queue, then delete the message (needs\n"
	    "                           pii-mask --reject-body)\n"
	    "  -c, --concurrency N      N deletes in flight at once, 1-"
	    SQSTOOL_STR(SQSTOOL_MAX_CONCURRENCY) " (default 1)\n"
	    STATS_USAGE
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
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

/* Reports the fate of a batch whose delete has ended, and empties it.
 * Returns the number of entries not deleted. */
static size_t
batch_done(struct batch *b, const struct sqs_call *call,
    const struct timespec *t0)
{
	enum sqs_status st = sqs_call_status(call);
	size_t failed = 0;

	if (st != SQS_OK)
		errx(sqstool_exit_status(st), "%s", sqs_call_error(call));
	stats_latency(&stats, t0);
	stats_add(&stats, S_CALLS, 1);
	for (size_t i = 0; i < b->n; i++) {
		const char *id = b->message_id[i], *code = b->entry[i].code;
		size_t id_len = id ? strlen(id) : 0;

		if (b->entry[i].deleted) {
			stats_add(&stats, S_DELETED, 1);
			continue;
		}
		if (b->entry[i].stale) {
			stats_add(&stats, S_STALE, 1);
			/* Not an error of ours: the visibility timeout ran
			 * out, the message comes back, and pg-load's ledger
			 * keeps it from being stored twice. */
			tool_log_message(0, id, id_len, "not deleted, its "
			    "receipt handle no longer valid (it will come back)",
			    code, strlen(code));
			continue;
		}
		tool_log_message(0, id, id_len, "not deleted", code,
		    strlen(code));
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
park(struct sqs *dlq, const struct ndjson_ack *a, long *failed)
{
	static int told;
	enum sqs_status st;

	if (a->body.s == NULL) {
		if (!told++)
			warnx("reject lines carry no body (pii-mask "
			    "--reject-body): rejected messages stay on the "
			    "queue");
		return 0;
	}
	if ((st = sqs_send(dlq, a->body.s, a->body.n)) == SQS_OK) {
		stats_add(&stats, S_PARKED, 1);
		return 1;
	}
	if (st == SQS_EREFUSED)
		errx(EXIT_CONFIG, "dead-letter queue: %s", sqs_error(dlq));
	tool_log_message(0, a->message_id.s, a->message_id.n, "not parked",
	    sqs_error(dlq), strlen(sqs_error(dlq)));
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
	struct ndjson_ack a;

	switch (ndjson_ack_read(p, line, len, &a)) {
	case NDJSON_UNUSABLE:
		return -1;
	case NDJSON_REJECT:
		/* A reject is deleted only once it is safe in the
		 * dead-letter queue: a crash in between leaves it in both,
		 * never in neither. */
		if (a.receipt_handle.s == NULL || dlq == NULL ||
		    !park(dlq, &a, failed))
			return 0;
		break;
	case NDJSON_ACK:
		break;
	}
	if ((b->entry[b->n].receipt_handle = strndup(a.receipt_handle.s,
	    a.receipt_handle.n)) == NULL)
		err(EXIT_IO, "out of memory");
	b->message_id[b->n] = NULL;
	if (a.message_id.s != NULL && (b->message_id[b->n] =
	    strndup(a.message_id.s, a.message_id.n)) == NULL)
		err(EXIT_IO, "out of memory");
	b->n++;
	return 1;
}

/* The deletes in flight: one slot per call, each with its batch. */
struct slot {
	struct sqs_call *call;
	struct batch b;
	struct timespec t0;
	int busy;
};

struct deleter {
	struct sqs *q;
	struct slot slots[SQSTOOL_MAX_CONCURRENCY];
	size_t nslots;
	size_t failed;		/* entries not deleted */
};

/* Waits at most timeout_ms (< 0: as long as it takes) for a delete to
 * end, or for input on fd (< 0: none), and reports the one that ended. */
static void
collect(struct deleter *d, int fd, int timeout_ms)
{
	struct sqs_call *call = sqs_run(d->q, fd, POLLIN, timeout_ms);

	for (size_t i = 0; call != NULL && i < d->nslots; i++)
		if (d->slots[i].call == call) {
			d->failed += batch_done(&d->slots[i].b, call,
			    &d->slots[i].t0);
			d->slots[i].busy = 0;
		}
}

/* Sends batch b (waiting for a free slot) and empties it. */
static void
submit(struct deleter *d, struct batch *b)
{
	struct slot *s = NULL;

	if (b->n == 0)
		return;
	while (s == NULL) {
		for (size_t i = 0; s == NULL && i < d->nslots; i++)
			if (!d->slots[i].busy)
				s = &d->slots[i];
		if (s == NULL)
			collect(d, -1, -1);
	}
	s->b = *b;
	b->n = 0;
	s->busy = 1;
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	sqs_call_delete(s->call, s->b.entry, s->b.n);
	collect(d, -1, 0);	/* on the wire now, not at the next wait */
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
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct sqstool t = { .sqs.stop = &tool_stop }, dt = { .queue_url = NULL };
	const char *line, *dlq_url = NULL;
	struct sqs *dlq = NULL;
	long parked_failed = 0;
	int read_error = 0;
	struct jfields_parser parser;
	struct deleter d = { .nslots = 1 };
	struct batch b = { .n = 0 };
	size_t len, unusable = 0;
	struct lines in;
	int c;

	while ((c = getopt_long(argc, argv, SQSTOOL_SHORTOPTS STATS_SHORTOPTS "D:c:hV",
	    longopts,
	    NULL)) != -1) {
		if (sqstool_option(&t, c, optarg) ||
		    xstats_option(&stats, c, optarg))
			continue;
		switch (c) {
		case 'D':
			dlq_url = optarg;
			break;
		case 'c':
			d.nslots = (size_t)xnumber(optarg, "--concurrency", 1,
			    SQSTOOL_MAX_CONCURRENCY);
			break;
		case 'V':
			tool_version("sqs-ack");
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
	/* From here a signal ends cleanly, and any exit leaves its stats. */
	tool_catch_signals();
	stats_init(&stats, "sqs-ack", counters, "deleted");
	/* It reads until its input ends: it waits out SQS outages unless
	 * told how often to try. */
	sqstool_wait_out_outages(&t, 1);
	stats_watch(&stats, &t.outage);
	d.q = xsqs_open(&t);
	for (size_t i = 0; i < d.nslots; i++)
		if ((d.slots[i].call = sqs_call_new(d.q)) == NULL)
			err(EXIT_IO, "out of memory");
	if (dlq_url != NULL) {
		/* Parking is a blocking send that gives up: the message then
		 * stays on its queue. */
		dt.queue_url = dlq_url;
		dt.sqs = t.sqs;
		dt.sqs.wait_out_outages = 0;
		dlq = xsqs_open(&dt);
	}
	tool_init_output();
	if (lines_init(&in, 0, NDJSON_MAX_LINE) < 0)
		err(EXIT_IO, "buffers");
	jfields_init(&parser, NDJSON_MAX_DEPTH, 0);

	while (!tool_stop) {
		enum lines_result r = lines_next(&in, 0, &line, &len);

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
			/* The next line would make us wait: send what we
			 * have, then wait for input or a delete's end. */
			submit(&d, &b);
			collect(&d, in.fd, STATS_TICK_MS);
			stats_tick(&stats);
			continue;
		}
		if (r == LINES_TOOLONG || batch_add(&b, &parser, line,
		    len, dlq, &parked_failed) < 0) {
			warnx("line %zu: no receipt_handle; skipped",
			    in.lineno);
			unusable++;
		}
		if (b.n == BATCH) {
			submit(&d, &b);
			stats_tick(&stats);
		}
	}
	submit(&d, &b);		/* at the end, or when stopped */
	while (sqs_busy(d.q) > 0)
		collect(&d, -1, -1);
	sqs_close(d.q);
	stats_finish(&stats);
	jfields_free(&parser);
	lines_free(&in);
	sqs_close(dlq);
	if (read_error)
		exit(EXIT_IO);
	xexit(NULL, d.failed || unusable || parked_failed ? EXIT_PARTIAL :
	    EXIT_OK);
}
