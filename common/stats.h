/*
 * stats.h - what a tool counts, and three ways to show it: with --stats,
 * a one-line JSON summary on stderr at exit and, while stderr is a
 * terminal, a progress line; with --metrics-file, Prometheus text-format
 * metrics written atomically (at start, every 10 s while the tool runs or
 * idles, and at every exit, failures included) for node_exporter's
 * textfile collector.  With --health-file, a file whose modification time
 * the tool sets at least every STATS_TICK_MS while its loop is alive, for
 * a supervisor's liveness probe (no HTTP).
 *
 * Counters are atomic: pg-load counts from several threads.  Names are
 * fixed by the tool; reject reasons (fixed phrases, no data) are counted
 * by reason.  Every series carries the tool's name as the label tool,
 * and the label of --metrics-label if given (so that the files of
 * several pipelines on one host differ); a build-info series carries
 * the version.
 */
#ifndef STATS_H
#define STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "outage.h"

#define STATS_MAX 8		/* counters per tool */
/* The longest a tool's loop waits without calling stats_tick(). */
#define STATS_TICK_MS 1000
#define STATS_MAX_REASONS 48
#define STATS_MAX_SERVICES 2
/* Upper bounds of the lag histogram's buckets, in seconds: from a
 * healthy pipeline's fraction of a second to a backlog a day old. */
#define STATS_LAG_BUCKETS 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, \
	3600, 21600, 86400
#define STATS_NLAG 13

/* A counter: its key in the --stats summary, its metric family
 * (fetch_awards_FAMILY_total, the unit in the name) and HELP text.  A
 * counter with no family is shown by reason instead (rejects). */
struct stats_counter {
	const char *name;
	const char *family;
	const char *help;
};

struct stats {
	const char *tool;
	const struct stats_counter *counters;
	atomic_long counts[STATS_MAX];
	size_t n;
	const char *rate_of;	/* the counter the rate is of */
	/* rejects, and notes on values stored, counted by reason (both
	 * guarded by a spin flag) */
	atomic_flag reasons_busy;
	struct stats_tally {
		char *reasons[STATS_MAX_REASONS];
		long counts[STATS_MAX_REASONS];
		size_t n;
	} rejects, notes;
	/* batch latency, in microseconds: sum, count, last */
	atomic_long latency_sum_us, latency_count, latency_last_us;
	/* commit lag: a histogram, when the tool measures it */
	int lag_measured;
	atomic_long lag_buckets[STATS_NLAG], lag_count, lag_sum_ms;
	/* the services whose outages are shown */
	const struct outage *services[STATS_MAX_SERVICES];
	size_t nservices;
	char label[256];	/* ,NAME="VALUE" of each --metrics-label */
	struct timespec start, last_tick, last_metrics;
	const char *metrics_path;	/* NULL: none */
	const char *health_path;	/* NULL: none */
	int finished;		/* stats_finish() has run */
	int progress;		/* stderr is a terminal */
	int enabled;		/* --stats */
};

/* The options every tool takes, for getopt_long, and their help. */
#define STATS_LONGOPTS							\
	{ "stats", no_argument, NULL, 'S' },				\
	{ "metrics-file", required_argument, NULL, 'M' },		\
	{ "metrics-label", required_argument, NULL, 'B' },		\
	{ "health-file", required_argument, NULL, 'L' }
#define STATS_SHORTOPTS "SM:B:L:"
#define STATS_USAGE							\
	"  -S, --stats              a one-line JSON summary on stderr at exit\n" \
	"  -M, --metrics-file PATH  Prometheus metrics, rewritten atomically\n" \
	"  -B, --metrics-label NAME=VALUE\n"				\
	"                           a label on every series (e.g. pipeline=2;\n" \
	"                           may be repeated)\n"				\
	"  -L, --health-file PATH   touched every second while the tool lives\n"

/* Takes option c if it is one of the above; returns 1 if it was, -1 if
 * its value is bad (with a message on stderr). */
int stats_option(struct stats *s, int c, const char *arg);

/* Starts counting for tool with the counters given (ending with one
 * whose name is NULL); rate_of names the one whose rate the summary
 * gives.  Writes the metrics and touches the health file at once, and
 * makes sure stats_finish() runs at exit, whatever the exit. */
void stats_init(struct stats *s, const char *tool,
    const struct stats_counter *counters, const char *rate_of);

/* Shows o's retries, outages and whether it is up. */
void stats_watch(struct stats *s, const struct outage *o);

/* Adds n to the counter at index i. */
static inline void
stats_add(struct stats *s, size_t i, long n)
{
	atomic_fetch_add_explicit(&s->counts[i], n, memory_order_relaxed);
}

/* Counts one reject of that reason (a fixed phrase). */
void stats_reason(struct stats *s, const char *reason, size_t len);

/* Counts one value stored by a rule that changed how (a fixed phrase,
 * e.g. login.h's LOGIN_NOTE_IP_LIST). */
void stats_note(struct stats *s, const char *reason, size_t len);

/* Records the lag of one committed message: now minus its SentTimestamp
 * (ms since the epoch), as a histogram (set s->lag_measured before
 * stats_init() to have it from the start). */
void stats_lag(struct stats *s, long long sent_ms);

/* Records how long one batch took, from t0. */
void stats_latency(struct stats *s, const struct timespec *t0);

/* Called often, and at least every STATS_TICK_MS, idle or not: at most
 * once a second, touches the health file and updates the progress line;
 * every 10 s, the metrics file. */
void stats_tick(struct stats *s);

/* At exit: ends the progress line, writes the metrics file and, with
 * --stats, the summary; once, also when called again by atexit().
 * Never fails the tool: errors are warnings. */
void stats_finish(struct stats *s);

#endif
