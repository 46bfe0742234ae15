/*
 * sqs-recv - receive messages from an SQS queue as NDJSON.
 *
 * Long-polls ReceiveMessage for batches of up to 10 and writes one line
 * per message: message_id, receipt_handle, body, sent_timestamp and
 * receive_count (docs/ndjson.md).  Output is flushed after every batch.
 * Messages are not deleted here: sqs-ack does that once they are stored.
 *
 * With --concurrency N, N receives are kept in flight at once by one
 * thread (sqs_run(): libcurl's multi interface over kept connections);
 * each batch is written whole as its receive ends.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "jsonw.h"
#include "ndjson.h"
#include "sqs.h"
#include "sqstool.h"
#include "stats.h"
#include "tool.h"

static void
usage(FILE *f)
{
	fputs("usage: sqs-recv [--queue-url URL] [--max-messages N] [--until-empty]\n"
	    "                [--wait-seconds S] [--visibility-timeout S]\n"
	    "                [--concurrency N] [--endpoint-url URL] [--protocol P]\n"
	    "                [--ca-bundle FILE]\n"
	    "\n"
	    "Receives messages from an SQS queue and writes one JSON line each.\n"
	    "SIGTERM or SIGINT stops it cleanly: what was received is written.\n"
	    "\n"
	    SQSTOOL_USAGE
	    "  -n, --max-messages N         stop after N messages\n"
	    "  -e, --until-empty            stop when a receive returns nothing (with\n"
	    "                               --concurrency N: N receives in a row)\n"
	    "  -w, --wait-seconds S         long-poll time, 0-20 (default 20,\n"
	    "                               or 1 with --until-empty)\n"
	    "  -v, --visibility-timeout S   hide received messages for S seconds\n"
	    "                               (default: the queue's setting)\n"
	    "  -c, --concurrency N          N receives in flight at once, 1-"
	    SQSTOOL_STR(SQSTOOL_MAX_CONCURRENCY) "\n"
	    "                               (default 1); output order then varies\n"
	    STATS_USAGE
	    "  -h, --help                   show this help\n"
	    "  -V, --version                show the version\n"
	    "\n"
	    "Environment: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, AWS_REGION,\n"
	    "AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
	    "AWS_SESSION_TOKEN, AWS_MAX_ATTEMPTS.\n"
	    "\n"
	    "Exit status: 0 done, 2 usage, 3 configuration, 4 writing failed,\n"
	    "5 SQS failed.\n", f);
}

static void
write_message(void *ctx, const struct sqs_message *m)
{
	struct ndjson_ids ids = {
		.message_id = { m->message_id, strlen(m->message_id) },
		.receipt_handle = { m->receipt_handle,
		    strlen(m->receipt_handle) },
		.sent_timestamp = m->sent_timestamp,
		.receive_count = m->receive_count,
	};

	ndjson_message_write(ctx, &ids, m->body, m->body_len);
}

/* The state of the receiving. */
struct recv {
	struct sqstool t;
	long max;		/* 0: no limit */
	int until_empty, wait, visibility;
	long received, asked;	/* messages written; asked for, in flight */
	int empty;		/* stop: the queue looks empty */
	long empties;		/* consecutive empty receives */
	long concurrency;
	struct obuf out;
	struct stats stats;
};

enum { S_RECEIVED, S_RECEIVES, S_EMPTY, S_SKIPPED };

/* One receive kept in flight. */
struct slot {
	struct sqs_call *call;
	int want;
	struct timespec t0;
};

/* Starts the slot's next receive, unless it is time to stop. */
static void
ask(struct recv *r, struct slot *s)
{
	s->want = r->max == 0 || r->max - r->asked >= 10 ? 10 :
	    (int)(r->max - r->asked);
	if (r->empty || tool_stop || s->want <= 0)
		return;
	r->asked += s->want;
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	sqs_call_receive(s->call, s->want, r->wait, r->visibility);
}

/* A receive has ended: writes its batch whole. */
static void
received(struct recv *r, struct slot *s)
{
	enum sqs_status st = sqs_call_status(s->call);
	int got, skipped;

	if (st != SQS_OK)
		errx(sqstool_exit_status(st), "%s", sqs_call_error(s->call));
	got = sqs_call_messages(s->call, write_message, &r->out, &skipped);
	stats_latency(&r->stats, &s->t0);
	stats_add(&r->stats, S_RECEIVES, 1);
	stats_add(&r->stats, S_RECEIVED, got);
	stats_add(&r->stats, S_SKIPPED, skipped);
	stats_add(&r->stats, S_EMPTY, got == 0);
	if (skipped > 0)
		warnx("%d message(s) with a damaged or incomplete answer left "
		    "on the queue", skipped);
	xwrite(&r->out);
	r->received += got;
	r->asked -= s->want - got;	/* ask again for what did not come */
	/* With N receives in flight, one empty answer may only mean the
	 * others hold the visible messages: empty is N empty answers in a
	 * row. */
	r->empties = got == 0 && skipped == 0 ? r->empties + 1 : 0;
	if (r->until_empty && r->empties >= r->concurrency)
		r->empty = 1;
	stats_tick(&r->stats);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		SQSTOOL_LONGOPTS,
		{ "max-messages", required_argument, NULL, 'n' },
		{ "until-empty", no_argument, NULL, 'e' },
		{ "wait-seconds", required_argument, NULL, 'w' },
		{ "visibility-timeout", required_argument, NULL, 'v' },
		{ "concurrency", required_argument, NULL, 'c' },
		STATS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct recv r = { .t.sqs.stop = &tool_stop, .wait = -1,
	    .visibility = -1, .concurrency = 1 };
	struct slot slots[SQSTOOL_MAX_CONCURRENCY];
	struct sqs_call *call;
	struct sqs *q;
	int c;

	while ((c = getopt_long(argc, argv, SQSTOOL_SHORTOPTS STATS_SHORTOPTS
	    "n:ew:v:c:hV",
	    longopts, NULL)) != -1) {
		if (sqstool_option(&r.t, c, optarg) ||
		    stats_option(&r.stats, c, optarg))
			continue;
		switch (c) {
		case 'n':
			r.max = xnumber(optarg, "--max-messages", 1, LONG_MAX);
			break;
		case 'e':
			r.until_empty = 1;
			break;
		case 'w':
			r.wait = (int)xnumber(optarg, "--wait-seconds", 0, 20);
			break;
		case 'v':
			r.visibility = (int)xnumber(optarg,
			    "--visibility-timeout", 0, 43200);
			break;
		case 'c':
			r.concurrency = xnumber(optarg, "--concurrency", 1,
			    SQSTOOL_MAX_CONCURRENCY);
			break;
		case 'V':
			tool_version("sqs-recv");
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
	/* Draining wants a short poll to notice the end; a consumer that
	 * runs forever wants the longest poll, the cheapest one. */
	if (r.wait < 0)
		r.wait = r.until_empty ? 1 : 20;

	/* From here a signal ends cleanly, and any exit leaves its stats,
	 * even while credentials are still being fetched. */
	tool_catch_signals();
	stats_init(&r.stats, "sqs-recv", (const char *const[]){ "received",
	    "receives", "empty_receives", "skipped", NULL }, "received");
	q = xsqs_open(&r.t);
	for (long i = 0; i < r.concurrency; i++)
		if ((slots[i].call = sqs_call_new(q)) == NULL)
			err(EXIT_IO, "out of memory");
	tool_init_output();
	for (long i = 0; i < r.concurrency; i++)
		ask(&r, &slots[i]);
	while (sqs_busy(q) > 0) {
		/* Waking now and then, so that an idle tool still shows
		 * it lives (stats.h). */
		if ((call = sqs_run(q, -1, STATS_TICK_MS)) == NULL) {
			stats_tick(&r.stats);
			continue;
		}
		for (long i = 0; i < r.concurrency; i++)
			if (slots[i].call == call) {
				received(&r, &slots[i]);
				ask(&r, &slots[i]);
			}
	}
	sqs_close(q);
	obuf_free(&r.out);
	stats_finish(&r.stats);
	xexit(NULL, EXIT_OK);
}
