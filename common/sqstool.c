/*
 * sqstool.c - options, opening and signals for the SQS tools.
 * See sqstool.h.
 */
#include <err.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "sqstool.h"
#include "tool.h"


int
sqstool_option(struct sqstool *t, int c, const char *arg)
{
	switch (c) {
	case 'q':
		t->queue_url = arg;
		return 1;
	case 'E':
		t->sqs.endpoint_url = arg;
		return 1;
	case 'C':
		t->sqs.ca_bundle = arg;
		return 1;
	case 'P':
		if (strcmp(arg, "json") == 0)
			t->sqs.protocol = SQS_JSON;
		else if (strcmp(arg, "query") == 0)
			t->sqs.protocol = SQS_QUERY;
		else if (strcmp(arg, "auto") == 0)
			t->sqs.protocol = SQS_AUTO;
		else {
			warnx("--protocol: expected json, query or auto");
			exit(EXIT_USAGE);
		}
		return 1;
	}
	return 0;
}

void
sqstool_wait_out_outages(struct sqstool *t, int continuous)
{
	t->sqs.wait_out_outages = continuous &&
	    getenv("AWS_MAX_ATTEMPTS") == NULL;
}

struct sqs *
xsqs_open(struct sqstool *t)
{
	const char *url = t->queue_url;
	struct sqs *q;
	char why[256];

	if (url == NULL)
		url = getenv("SQS_QUEUE_URL");
	if (url == NULL || *url == '\0') {
		warnx("no queue: give --queue-url or set SQS_QUEUE_URL");
		exit(EXIT_USAGE);
	}
	t->outage.service = "sqs";
	t->outage.report = tool_outage_report;
	t->sqs.outage = &t->outage;
	if ((q = sqs_open(url, &t->sqs, why, sizeof(why))) == NULL)
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
