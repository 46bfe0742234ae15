/*
 * sqstool.h - what sqs-recv and sqs-ack share in main(): the options that
 * name and reach the queue, opening it, stopping on SIGTERM/SIGINT, and
 * mapping a failed call to its exit status.  Like tool.h, these exit.
 */
#ifndef SQSTOOL_H
#define SQSTOOL_H

#include <signal.h>

#include "sqs.h"

/* The most calls a tool keeps in flight (--concurrency): enough to hide
 * a 30 ms round trip at 10,000 messages a second. */
#define SQSTOOL_MAX_CONCURRENCY 64
#define SQSTOOL_STR(x) SQSTOOL_STR_(x)
#define SQSTOOL_STR_(x) #x

/* The options, for getopt_long. */
#define SQSTOOL_SHORTOPTS "q:E:P:C:"
#define SQSTOOL_LONGOPTS						\
	{ "queue-url", required_argument, NULL, 'q' },			\
	{ "endpoint-url", required_argument, NULL, 'E' },		\
	{ "protocol", required_argument, NULL, 'P' },			\
	{ "ca-bundle", required_argument, NULL, 'C' }
#define SQSTOOL_USAGE							\
	"  -q, --queue-url URL      queue (default: $SQS_QUEUE_URL)\n"	\
	"  -E, --endpoint-url URL   service endpoint (default:\n"		\
	"                           $AWS_ENDPOINT_URL_SQS, $AWS_ENDPOINT_URL,\n" \
	"                           else the region's AWS endpoint)\n"	\
	"  -P, --protocol P         json, query or auto (default: auto, JSON\n" \
	"                           falling back to Query/XML)\n"		\
	"  -C, --ca-bundle FILE     CA certificates for https (TLS is always\n" \
	"                           verified)\n"

struct sqstool {
	const char *queue_url;
	struct sqs_options sqs;
	struct outage outage;	/* SQS's, logged and counted */
};

/* Sets whether the tool waits out SQS outages: it does when it runs on
 * continuously (no limit of its own) and $AWS_MAX_ATTEMPTS does not set
 * one; otherwise a failing request gives up after AWS_MAX_ATTEMPTS tries
 * (default 8). */
void sqstool_wait_out_outages(struct sqstool *t, int continuous);

/* Takes option c with its argument if it is one of the above; returns 1
 * if it was.  A bad value exits EXIT_USAGE. */
int sqstool_option(struct sqstool *t, int c, const char *arg);

/* Opens the queue, $SQS_QUEUE_URL when none was given, its outages
 * logged (tool_outage_report()) and counted in t->outage; exits
 * EXIT_USAGE when there is none, EXIT_CONFIG when the client cannot be
 * set up. */
struct sqs *xsqs_open(struct sqstool *t);

/* The exit status for a failed call. */
int sqstool_exit_status(enum sqs_status st);

#endif
