/*
 * outage.h - a remote service (SQS, PostgreSQL) as its callers see it: up,
 * or gone away since some moment.
 *
 * Callers report every failed attempt they will retry, and every answer.
 * The first failure that shows the service away (it cannot be reached,
 * or keeps failing) begins an outage, and the next answer ends it; each
 * is told once to the report function (not once per try), so a long
 * outage is two log lines however many tries it takes.  Retries and
 * outages are counted for the metrics (stats.h).
 *
 * Safe from several threads: pg-load's committers share one.
 */
#ifndef OUTAGE_H
#define OUTAGE_H

#include <stdatomic.h>

struct outage;

/* Told when the service goes away (down 1, why: the failure) and when it
 * is back (down 0, why NULL). */
typedef void outage_report_fn(const struct outage *o, int down,
    const char *why);

struct outage {
	const char *service;	/* "sqs", "postgresql": a metrics label */
	outage_report_fn *report;	/* NULL: none */
	atomic_long retries;	/* failed attempts, retried */
	atomic_long outages;	/* times it went away */
	atomic_int down;
	atomic_llong since_ms;	/* backoff_now_ms() when it went away */
	atomic_long retries_then;	/* retries when it went away */
};

/* A failed attempt that will be retried.  away: the failure shows the
 * service gone (no connection, no answer, an error of its own); 0 for a
 * failure of this one request (a deadlock, throttling). */
void outage_retry(struct outage *o, int away, const char *why);

/* An answer from the service: it is there. */
void outage_answered(struct outage *o);

/* Milliseconds since the service went away (last time it did). */
long long outage_length_ms(const struct outage *o);

#endif
