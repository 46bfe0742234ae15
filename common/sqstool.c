/*
 * sqstool.c - opening the queue for the SQS tools.  See sqstool.h.
 */
#include <err.h>
#include <stdlib.h>

#include "exitcode.h"
#include "sqstool.h"

struct sqs *
xsqs_open(const char *queue_url, const char *endpoint_url)
{
	struct sqs *q;
	char why[256];

	if (queue_url == NULL)
		queue_url = getenv("SQS_QUEUE_URL");
	if (queue_url == NULL || *queue_url == '\0') {
		warnx("no queue: give --queue-url or set SQS_QUEUE_URL");
		exit(EXIT_USAGE);
	}
	if ((q = sqs_open(queue_url, endpoint_url, why, sizeof(why))) == NULL)
		errx(EXIT_CONFIG, "%s", why);
	return q;
}

int
sqstool_exit_status(enum sqs_status st)
{
	/* A refusal (no such queue, bad credentials) is fixed by changing
	 * the configuration; anything else may pass by itself. */
	return st == SQS_EREFUSED ? EXIT_CONFIG : EXIT_SQS;
}
