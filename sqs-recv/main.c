/*
 * sqs-recv - receive messages from an SQS queue as NDJSON.
 *
 * Long-polls ReceiveMessage for batches of up to 10 and writes one line
 * per message: message_id, receipt_handle, body, sent_timestamp and
 * receive_count (docs/ndjson.md).  Output is flushed after every batch.
 * Messages are not deleted here: sqs-ack does that once they are stored.
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "jsonw.h"
#include "sqs.h"
#include "sqstool.h"
#include "tool.h"

static void
usage(FILE *f)
{
	fputs("usage: sqs-recv [--queue-url URL] [--max-messages N] [--until-empty]\n"
	    "                [--wait-seconds S] [--visibility-timeout S]\n"
	    "                [--endpoint-url URL] [--protocol P] [--ca-bundle FILE]\n"
	    "\n"
	    "Receives messages from an SQS queue and writes one JSON line each.\n"
	    "SIGTERM or SIGINT stops it cleanly: what was received is written.\n"
	    "\n"
	    SQSTOOL_USAGE
	    "  -n, --max-messages N         stop after N messages\n"
	    "  -e, --until-empty            stop when a receive returns nothing\n"
	    "  -w, --wait-seconds S         long-poll time, 0-20 (default 20,\n"
	    "                               or 1 with --until-empty)\n"
	    "  -v, --visibility-timeout S   hide received messages for S seconds\n"
	    "                               (default: the queue's setting)\n"
	    "  -h, --help                   show this help\n"
	    "\n"
	    "Environment: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, AWS_REGION,\n"
	    "AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
	    "AWS_SESSION_TOKEN, AWS_MAX_ATTEMPTS.\n"
	    "\n"
	    "Exit status: 0 done, 2 usage, 3 configuration, 4 writing failed,\n"
	    "5 SQS failed.\n", f);
}

/* Appends a non-negative integer, or null for -1 (unknown). */
static void
put_count(struct obuf *o, long long v)
{
	if (v >= 0)
		obuf_putll(o, v);
	else
		obuf_puts(o, "null");
}

static void
write_message(void *ctx, const struct sqs_message *m)
{
	struct obuf *o = ctx;

	obuf_puts(o, "{\"message_id\":");
	jsonw_string(o, m->message_id, strlen(m->message_id));
	obuf_puts(o, ",\"receipt_handle\":");
	jsonw_string(o, m->receipt_handle, strlen(m->receipt_handle));
	obuf_puts(o, ",\"body\":");
	jsonw_string(o, m->body, m->body_len);
	obuf_puts(o, ",\"sent_timestamp\":");
	put_count(o, m->sent_timestamp);
	obuf_puts(o, ",\"receive_count\":");
	put_count(o, m->receive_count);
	obuf_puts(o, "}\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sqstool t = { .sqs.stop = &sqstool_stop };
	struct obuf out = { .len = 0 };
	long max = 0, received = 0;
	int c, until_empty = 0, wait = -1, visibility = -1;
	struct sqs *q;

	while ((c = getopt_long(argc, argv, SQSTOOL_SHORTOPTS "n:ew:v:h",
	    longopts, NULL)) != -1) {
		if (sqstool_option(&t, c, optarg))
			continue;
		switch (c) {
		case 'n':
			max = xnumber(optarg, "--max-messages", 1, LONG_MAX);
			break;
		case 'e':
			until_empty = 1;
			break;
		case 'w':
			wait = (int)xnumber(optarg, "--wait-seconds", 0, 20);
			break;
		case 'v':
			visibility = (int)xnumber(optarg, "--visibility-timeout",
			    0, 43200);
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
	/* Draining wants a short poll to notice the end; a consumer that
	 * runs forever wants the longest poll, the cheapest one. */
	if (wait < 0)
		wait = until_empty ? 1 : 20;

	q = xsqs_open(&t);
	tool_init_output();
	sqstool_catch_signals();
	while ((max == 0 || received < max) && !sqstool_stop) {
		int want = max == 0 || max - received >= 10 ? 10 :
		    (int)(max - received);
		int got, skipped;
		enum sqs_status st;

		st = sqs_receive(q, want, wait, visibility, write_message, &out,
		    &got, &skipped);
		if (st != SQS_OK)
			errx(sqstool_exit_status(st), "%s", sqs_error(q));
		if (skipped > 0)
			warnx("%d message(s) with a damaged or incomplete "
			    "answer left on the queue", skipped);
		xwrite(&out);
		received += got;
		if (got == 0 && skipped == 0 && until_empty)
			break;
	}
	sqs_close(q);
	xexit(&out, EXIT_OK);
}
