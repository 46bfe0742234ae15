/*
 * sqs-recv - receive messages from an SQS queue as NDJSON.
 *
 * Long-polls ReceiveMessage for batches of up to 10 and writes one line
 * per message: message_id, receipt_handle, body, sent_timestamp and
 * receive_count (docs/ndjson.md).  Messages are not deleted here: sqs-ack
 * does that once they are stored.
 *
 * With --concurrency N, N receives are kept in flight at once by one
 * thread (sqs_run(): libcurl's multi interface over kept connections);
 * each batch is written whole as its receive ends.
 *
 * Output never blocks the thread: it is written as the pipe takes it,
 * and no receive is started while more than OUT_HIGH bytes wait.  So a
 * stalled pipeline stops the receiving (the messages stay on the queue,
 * not received), and calls keep being driven meanwhile: retries, and
 * the hiding of messages that came back (below).
 *
 * A message that comes back while this process still knows it wrote it
 * was not deleted within its visibility timeout: the stages after us are
 * stalled (a database outage), or rejected it (it waits for the queue's
 * redrive), or died.  With --hold-seconds S it is written again, with
 * its new receipt handle, and hidden HOLD_SECONDS at a time, renewed
 * while we run (ChangeMessageVisibilityBatch), until the renewal fails
 * (it was deleted) or S seconds have passed.  So a stall shorter than S
 * costs one extra receive at most, and a queue's maxReceiveCount parks
 * no valid message for it; a reject reaches the redrive S later; if we
 * die, the message is back within HOLD_SECONDS.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "exitcode.h"
#include "idset.h"
#include "jsonw.h"
#include "ndjson.h"
#include "sqs.h"
#include "sqstool.h"
#include "stats.h"
#include "tool.h"

/* Receives start only while less than this waits to be written. */
#define OUT_HIGH 65536
/* A message that came back is hidden this long, renewed every third. */
#define HOLD_SECONDS 60
#define HOLD_RENEW_MS (HOLD_SECONDS * 1000 / 3)
/* The most messages kept hidden at once: beyond, they come back. */
#define HOLD_MAX 16384
/* --hold-seconds when running on: a stall of up to 10 minutes is
 * covered, and a reject reaches the redrive 10 minutes later. */
#define HOLD_DEFAULT 600

static void
usage(FILE *f)
{
	fputs("usage: sqs-recv [--queue-url URL] [--max-messages N] [--until-empty]\n"
	    "                [--wait-seconds S] [--visibility-timeout S]\n"
	    "                [--concurrency N] [--hold-seconds S] [--endpoint-url URL]\n"
	    "                [--protocol P] [--ca-bundle FILE]\n"
	    "\n"
	    "Receives messages from an SQS queue and writes one JSON line each.\n"
	    "SIGTERM or SIGINT stops it cleanly: what was received is written.\n"
	    "Run on (no -n, no -e), it waits out SQS outages of any length, and a\n"
	    "message it wrote that comes back before it is deleted (the pipeline\n"
	    "is stalled) is written again and kept hidden for up to --hold-seconds:\n"
	    "a stall that short costs one extra receive at most.\n"
	    "\n"
	    SQSTOOL_USAGE
	    "  -n, --max-messages N         stop after N messages\n"
	    "  -e, --until-empty            stop when a receive returns nothing (with\n"
	    "                               --concurrency N: N receives in a row)\n"
	    "  -w, --wait-seconds S         long-poll time, 0-20 (default 20,\n"
	    "                               or 1 with --until-empty)\n"
	    "  -v, --visibility-timeout S   hide received messages for S seconds\n"
	    "                               (default: the queue's setting)\n"
	    "  -H, --hold-seconds S         keep a message that comes back before it is\n"
	    "                               deleted hidden for up to S seconds (default\n"
	    "                               " SQSTOOL_STR(HOLD_DEFAULT) "; 0 with -n or -e; 0: never)\n"
	    "  -c, --concurrency N          N receives in flight at once, 1-"
	    SQSTOOL_STR(SQSTOOL_MAX_CONCURRENCY) "\n"
	    "                               (default 1); output order then varies\n"
	    STATS_USAGE
	    "  -h, --help                   show this help\n"
	    "  -V, --version                show the version\n"
	    "\n"
	    "Environment: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, AWS_REGION,\n"
	    "AWS_DEFAULT_REGION, AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT,\n"
	    "AWS_CA_BUNDLE; credentials as the AWS SDKs find them (sqs-recv(1));\n"
	    "AWS_MAX_ATTEMPTS (set: give up after so many tries even when running on).\n"
	    "\n"
	    "Exit status: 0 done, 2 usage, 3 configuration, 4 writing failed,\n"
	    "5 SQS failed.\n", f);
}

/* A message kept hidden: its latest receipt handle, when to renew, and
 * when to let it come back. */
struct held {
	char *receipt_handle;
	long long due_ms, until_ms;
};

/* The state of the receiving. */
struct recv {
	struct sqstool t;
	long max;		/* 0: no limit */
	int until_empty, wait, visibility;
	long received, asked;	/* messages written; asked for, in flight */
	int empty;		/* stop: the queue looks empty */
	long empties;		/* consecutive empty receives */
	long concurrency;
	long hold_ms;		/* --hold-seconds, in ms; 0: no hiding */
	struct obuf out;
	size_t sent;		/* bytes of out already written */
	struct idset wrote;	/* ids written lately */
	struct held *held;	/* messages kept hidden */
	size_t nheld;
	struct sqs_call *hider;	/* renews them, 10 at a time */
	struct sqs_delete hiding[10];
	long long hiding_until[10];
	size_t nhiding;
	int hold_refused;	/* the service will not hide them */
	struct stats stats;
};

enum { S_RECEIVED, S_RECEIVES, S_EMPTY, S_SKIPPED, S_CAME_BACK };
static const struct stats_counter counters[] = {
	{ "received", "received_messages", "Messages received and written "
	    "out." },
	{ "receives", "receive_requests", "ReceiveMessage requests "
	    "answered." },
	{ "empty_receives", "empty_receive_requests", "ReceiveMessage "
	    "requests answered with no message." },
	{ "skipped", "skipped_messages", "Messages left on the queue: their "
	    "body did not match its MD5." },
	{ "came_back", "came_back_messages", "Messages that came back "
	    "before the pipeline deleted them, written again and kept "
	    "hidden." },
	{ NULL, NULL, NULL },
};

/* Keeps a message that came back hidden from now on. */
static void
hold(struct recv *r, const char *receipt_handle)
{
	struct held *h;

	if (r->nheld == HOLD_MAX || r->hold_refused || r->hold_ms == 0)
		return;		/* it comes back again: harmless */
	if (r->held == NULL &&
	    (r->held = calloc(HOLD_MAX, sizeof(*r->held))) == NULL)
		return;
	h = &r->held[r->nheld];
	if ((h->receipt_handle = strdup(receipt_handle)) == NULL)
		return;
	h->due_ms = 0;		/* at once */
	h->until_ms = backoff_now_ms() + r->hold_ms;
	r->nheld++;
}

static void
write_message(void *ctx, const struct sqs_message *m)
{
	struct recv *r = ctx;
	size_t idlen = strlen(m->message_id);
	struct ndjson_ids ids = {
		.message_id = { m->message_id, idlen },
		.receipt_handle = { m->receipt_handle,
		    strlen(m->receipt_handle) },
		.sent_timestamp = m->sent_timestamp,
		.receive_count = m->receive_count,
	};

	if (m->receive_count != 1 &&
	    idset_find(&r->wrote, m->message_id, idlen) >= 0) {
		stats_add(&r->stats, S_CAME_BACK, 1);
		hold(r, m->receipt_handle);
	}
	idset_add(&r->wrote, m->message_id, idlen, backoff_now_ms());
	ndjson_message_write(&r->out, &ids, m->body, m->body_len);
}

/* Starts renewing the holds that are due, up to 10, if none is under
 * way.  They leave the list while their call runs. */
static void
renew_holds(struct recv *r)
{
	long long now = backoff_now_ms();

	if (r->nhiding > 0 || r->hider == NULL)
		return;
	for (size_t i = 0; i < r->nheld && r->nhiding < 10;) {
		struct held *h = &r->held[i];

		if (h->due_ms > now) {
			i++;
			continue;
		}
		if (h->until_ms <= now)		/* held long enough */
			free(h->receipt_handle);
		else {
			long long left = (h->until_ms - now + 999) / 1000;

			r->hiding[r->nhiding].receipt_handle = h->receipt_handle;
			r->hiding[r->nhiding].seconds = left < HOLD_SECONDS ?
			    (int)left : HOLD_SECONDS;
			r->hiding_until[r->nhiding++] = h->until_ms;
		}
		*h = r->held[--r->nheld];
	}
	if (r->nhiding > 0)
		sqs_call_hide(r->hider, r->hiding, r->nhiding);
}

/* A renewal ended.  A message the service no longer knows by that handle
 * was deleted (or came back, and is held by its new handle); the others
 * stay held.  A service that refuses to hide (a policy without
 * sqs:ChangeMessageVisibility) is told once and not asked again. */
static void
renewed(struct recv *r)
{
	enum sqs_status st = sqs_call_status(r->hider);
	long long now = backoff_now_ms();

	if (st == SQS_EREFUSED && !r->hold_refused) {
		warnx("messages that came back cannot be kept hidden (%s); "
		    "they may come back again", sqs_call_error(r->hider));
		r->hold_refused = 1;
	}
	for (size_t i = 0; i < r->nhiding; i++) {
		struct sqs_delete *e = &r->hiding[i];
		struct held *h = &r->held[r->nheld];
		int keep = st == SQS_EFAILED || e->deleted ||
		    (st == SQS_OK && strcmp(e->code, "NoAnswer") == 0);

		/* (holds taken meanwhile may have filled the list) */
		if (!keep || r->hold_refused || r->nheld == HOLD_MAX) {
			free((char *)e->receipt_handle);
			continue;
		}
		h->receipt_handle = (char *)e->receipt_handle;
		h->due_ms = now + (e->deleted ? HOLD_RENEW_MS : 1000);
		h->until_ms = r->hiding_until[i];
		r->nheld++;
	}
	r->nhiding = 0;
}

/* One receive kept in flight. */
struct slot {
	struct sqs_call *call;
	int want;		/* 0: idle */
	struct timespec t0;
};

/* Starts the slot's next receive, unless it is time to stop or the
 * output is backed up. */
static void
ask(struct recv *r, struct slot *s)
{
	int want = r->max == 0 || r->max - r->asked >= 10 ? 10 :
	    (int)(r->max - r->asked);

	if (s->want > 0 || r->empty || tool_stop || want <= 0 ||
	    r->out.len - r->sent >= OUT_HIGH)
		return;
	s->want = want;
	r->asked += want;
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	sqs_call_receive(s->call, want, r->wait, r->visibility);
}

/* A receive has ended: adds its batch, whole, to the output. */
static void
received(struct recv *r, struct slot *s)
{
	enum sqs_status st = sqs_call_status(s->call);
	int got, skipped;

	if (st != SQS_OK)
		errx(sqstool_exit_status(st), "%s", sqs_call_error(s->call));
	got = sqs_call_messages(s->call, write_message, r, &skipped);
	stats_latency(&r->stats, &s->t0);
	stats_add(&r->stats, S_RECEIVES, 1);
	stats_add(&r->stats, S_RECEIVED, got);
	stats_add(&r->stats, S_SKIPPED, skipped);
	stats_add(&r->stats, S_EMPTY, got == 0);
	if (skipped > 0)
		warnx("%d message(s) with a damaged or incomplete answer left "
		    "on the queue", skipped);
	if (r->out.oom)
		errx(EXIT_IO, "out of memory");
	r->received += got;
	r->asked -= s->want - got;	/* ask again for what did not come */
	s->want = 0;
	/* With N receives in flight, one empty answer may only mean the
	 * others hold the visible messages: empty is N empty answers in a
	 * row. */
	r->empties = got == 0 && skipped == 0 ? r->empties + 1 : 0;
	if (r->until_empty && r->empties >= r->concurrency)
		r->empty = 1;
}

/* Writes what the output takes without waiting (a pipe with room takes
 * PIPE_BUF bytes at least); exits EXIT_IO when it fails. */
static void
write_some(struct recv *r)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };

	while (r->sent < r->out.len && poll(&p, 1, 0) > 0) {
		size_t n = r->out.len - r->sent;
		ssize_t w;

		if (n > PIPE_BUF)
			n = PIPE_BUF;
		if ((w = write(STDOUT_FILENO, r->out.p + r->sent, n)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err(EXIT_IO, "writing standard output");
		}
		r->sent += (size_t)w;
	}
	if (r->sent == r->out.len) {
		obuf_clear(&r->out);
		r->sent = 0;
	}
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
		{ "hold-seconds", required_argument, NULL, 'H' },
		STATS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct recv r = { .t.sqs.stop = &tool_stop, .wait = -1,
	    .visibility = -1, .concurrency = 1, .hold_ms = -1 };
	struct slot slots[SQSTOOL_MAX_CONCURRENCY] = { { NULL, 0, { 0, 0 } } };
	struct sqs_call *call;
	struct sqs *q;
	int c;

	while ((c = getopt_long(argc, argv, SQSTOOL_SHORTOPTS STATS_SHORTOPTS
	    "n:ew:v:c:H:hV",
	    longopts, NULL)) != -1) {
		if (sqstool_option(&r.t, c, optarg) ||
		    xstats_option(&r.stats, c, optarg))
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
		case 'H':
			r.hold_ms = 1000 * xnumber(optarg, "--hold-seconds", 0,
			    43200);
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
	/* A drain ends before a hold would: rejects come back to it and
	 * reach the redrive as they should. */
	if (r.hold_ms < 0)
		r.hold_ms = r.until_empty || r.max > 0 ? 0 :
		    HOLD_DEFAULT * 1000L;

	/* From here a signal ends cleanly, and any exit leaves its stats,
	 * even while credentials are still being fetched. */
	tool_catch_signals();
	stats_init(&r.stats, "sqs-recv", counters, "received");
	/* A consumer that runs on waits out SQS outages; one that stops at
	 * a limit gives up, with a status to act on. */
	sqstool_wait_out_outages(&r.t, !r.until_empty && r.max == 0);
	stats_watch(&r.stats, &r.t.outage);
	q = xsqs_open(&r.t);
	if (idset_init(&r.wrote) < 0)
		err(EXIT_IO, "out of memory");
	for (long i = 0; i < r.concurrency; i++)
		if ((slots[i].call = sqs_call_new(q)) == NULL)
			err(EXIT_IO, "out of memory");
	if ((r.hider = sqs_call_new(q)) == NULL)
		err(EXIT_IO, "out of memory");
	tool_init_output();
	for (;;) {
		for (long i = 0; i < r.concurrency; i++)
			ask(&r, &slots[i]);
		if (!tool_stop)
			renew_holds(&r);
		if (sqs_busy(q) == 0 && (tool_stop || r.empty ||
		    (r.max > 0 && r.asked >= r.max)))
			break;		/* nothing more will be received */
		/* Waking now and then, so that an idle tool still shows
		 * it lives (stats.h). */
		call = sqs_run(q, r.out.len > r.sent ? STDOUT_FILENO : -1,
		    POLLOUT, STATS_TICK_MS);
		if (call == r.hider)
			renewed(&r);
		for (long i = 0; call != NULL && i < r.concurrency; i++)
			if (slots[i].call == call)
				received(&r, &slots[i]);
		write_some(&r);
		stats_tick(&r.stats);
	}
	/* The rest, waiting as long as it takes: it was received. */
	if (r.sent > 0)
		memmove(r.out.p, r.out.p + r.sent, r.out.len - r.sent);
	r.out.len -= r.sent;
	xwrite(&r.out);
	for (size_t i = 0; i < r.nheld; i++)
		free(r.held[i].receipt_handle);
	free(r.held);
	idset_free(&r.wrote);
	sqs_close(q);
	obuf_free(&r.out);
	stats_finish(&r.stats);
	xexit(NULL, EXIT_OK);
}
