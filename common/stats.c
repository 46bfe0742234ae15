/*
 * stats.c - counting and showing it.  See stats.h.
 */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonw.h"
#include "obuf.h"
#include "stats.h"

static double
seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

int
stats_option(struct stats *s, int c, const char *arg)
{
	if (c == 'S')
		s->enabled = 1;
	else if (c == 'M')
		s->metrics_path = arg;
	else if (c == 'L')
		s->health_path = arg;
	else
		return 0;
	return 1;
}

static void write_metrics(struct stats *s);

/* The tool's stats, for stats_finish() at exit. */
static struct stats *at_exit;

static void
finish_at_exit(void)
{
	if (at_exit != NULL)
		stats_finish(at_exit);
}

/* Sets the health file's time to now, creating it if need be. */
static void
touch_health(const struct stats *s)
{
	int fd;

	if (s->health_path == NULL)
		return;
	if ((fd = open(s->health_path, O_WRONLY | O_CREAT | O_CLOEXEC,
	    0644)) < 0 || futimens(fd, NULL) < 0)
		warn("health file %s", s->health_path);
	if (fd >= 0)
		close(fd);
}

void
stats_init(struct stats *s, const char *tool, const char *const *names,
    const char *rate_of)
{
	s->tool = tool;
	for (s->n = 0; names[s->n] != NULL && s->n < STATS_MAX; s->n++) {
		s->names[s->n] = names[s->n];
		atomic_init(&s->counts[s->n], 0);
	}
	s->rate_of = rate_of;
	atomic_flag_clear(&s->reasons_busy);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	s->last_tick = s->last_metrics = s->start;
	s->progress = isatty(STDERR_FILENO);
	at_exit = s;
	atexit(finish_at_exit);
	if (s->metrics_path != NULL)
		write_metrics(s);	/* an idle tool has its file at once */
	touch_health(s);
}

static void
tally(struct stats *s, struct stats_tally *t, const char *reason, size_t len)
{
	size_t i;

	while (atomic_flag_test_and_set(&s->reasons_busy))
		;
	for (i = 0; i < t->n; i++)
		if (strlen(t->reasons[i]) == len &&
		    memcmp(t->reasons[i], reason, len) == 0)
			break;
	if (i == t->n && i < STATS_MAX_REASONS &&
	    (t->reasons[i] = strndup(reason, len)) != NULL)
		t->n++;
	if (i < t->n)
		t->counts[i]++;
	atomic_flag_clear(&s->reasons_busy);
}

void
stats_reason(struct stats *s, const char *reason, size_t len)
{
	tally(s, &s->rejects, reason, len);
}

void
stats_note(struct stats *s, const char *reason, size_t len)
{
	tally(s, &s->notes, reason, len);
}

/* One counter family by reason, in the Prometheus text format. */
static void
tally_metrics(struct obuf *b, const struct stats *s, const struct stats_tally *t,
    const char *family, const char *help)
{
	if (t->n == 0)
		return;
	obuf_puts(b, "# HELP ");
	obuf_puts(b, family);
	obuf_putc(b, ' ');
	obuf_puts(b, help);
	obuf_puts(b, "\n# TYPE ");
	obuf_puts(b, family);
	obuf_puts(b, " counter\n");
	for (size_t i = 0; i < t->n; i++) {
		obuf_puts(b, family);
		obuf_puts(b, "{tool=\"");
		obuf_puts(b, s->tool);
		obuf_puts(b, "\",reason=");
		/* a JSON string is a valid Prometheus label value here:
		 * the reasons are fixed ASCII phrases */
		jsonw_string(b, t->reasons[i], strlen(t->reasons[i]));
		obuf_puts(b, "} ");
		obuf_putll(b, t->counts[i]);
		obuf_putc(b, '\n');
	}
}

/* One tally as a JSON object member: ,"name":{"reason":n,...} */
static void
tally_json(struct obuf *b, const struct stats_tally *t, const char *name)
{
	obuf_puts(b, ",\"");
	obuf_puts(b, name);
	obuf_puts(b, "\":{");
	for (size_t i = 0; i < t->n; i++) {
		if (i > 0)
			obuf_putc(b, ',');
		jsonw_string(b, t->reasons[i], strlen(t->reasons[i]));
		obuf_putc(b, ':');
		obuf_putll(b, t->counts[i]);
	}
	obuf_putc(b, '}');
}

void
stats_latency(struct stats *s, const struct timespec *t0)
{
	long us = (long)(seconds_since(t0) * 1e6);

	atomic_fetch_add(&s->latency_sum_us, us);
	atomic_fetch_add(&s->latency_count, 1);
	atomic_store(&s->latency_last_us, us);
}

static long
count_of(struct stats *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return atomic_load(&s->counts[i]);
	return 0;
}

/* Writes the Prometheus text format to path.tmp, then renames it over
 * path, so a collector never reads half a file. */
static void
write_metrics(struct stats *s)
{
	struct obuf b = { .len = 0 };
	char tmp[4096];
	FILE *f;

	for (size_t i = 0; i < s->n; i++) {
		char line[256];

		snprintf(line, sizeof(line), "# HELP fetch_awards_%s_total "
		    "Lines or messages %s.\n# TYPE fetch_awards_%s_total "
		    "counter\nfetch_awards_%s_total{tool=\"%s\"} %ld\n",
		    s->names[i], s->names[i], s->names[i], s->names[i],
		    s->tool, atomic_load(&s->counts[i]));
		obuf_puts(&b, line);
	}
	while (atomic_flag_test_and_set(&s->reasons_busy))
		;
	tally_metrics(&b, s, &s->rejects, "fetch_awards_rejects_total",
	    "Rejects by reason.");
	tally_metrics(&b, s, &s->notes, "fetch_awards_notes_total",
	    "Values stored by a rule that changed how, by reason.");
	atomic_flag_clear(&s->reasons_busy);
	if (atomic_load(&s->latency_count) > 0) {
		char line[512];

		snprintf(line, sizeof(line), "# HELP fetch_awards_batch_seconds "
		    "Time to handle a batch.\n# TYPE fetch_awards_batch_seconds "
		    "summary\nfetch_awards_batch_seconds_sum{tool=\"%s\"} %.6f\n"
		    "fetch_awards_batch_seconds_count{tool=\"%s\"} %ld\n"
		    "# HELP fetch_awards_last_batch_seconds Time the last batch "
		    "took.\n# TYPE fetch_awards_last_batch_seconds gauge\n"
		    "fetch_awards_last_batch_seconds{tool=\"%s\"} %.6f\n",
		    s->tool, atomic_load(&s->latency_sum_us) / 1e6, s->tool,
		    atomic_load(&s->latency_count), s->tool,
		    atomic_load(&s->latency_last_us) / 1e6);
		obuf_puts(&b, line);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->metrics_path);
	if (b.oom || (f = fopen(tmp, "w")) == NULL) {
		warn("metrics file %s", tmp);
		obuf_free(&b);
		return;
	}
	fwrite(b.p, 1, b.len, f);
	if (fclose(f) == EOF || rename(tmp, s->metrics_path) < 0)
		warn("metrics file %s", s->metrics_path);
	obuf_free(&b);
}

static void
progress(struct stats *s, int final)
{
	double t = seconds_since(&s->start);
	long c = count_of(s, s->rate_of);

	fprintf(stderr, "\r%s: %ld %s, %.0f/s, %.0f s%s", s->tool, c,
	    s->rate_of, t > 0 ? c / t : 0.0, t, final ? "\n" : "");
}

void
stats_tick(struct stats *s)
{
	static const double every = 1.0, metrics_every = 10.0;

	if (seconds_since(&s->last_tick) < every)
		return;
	clock_gettime(CLOCK_MONOTONIC, &s->last_tick);
	touch_health(s);
	if (s->progress && s->enabled)
		progress(s, 0);
	if (s->metrics_path != NULL &&
	    seconds_since(&s->last_metrics) >= metrics_every) {
		s->last_metrics = s->last_tick;
		write_metrics(s);
	}
}

static void summary(struct stats *, double);

void
stats_finish(struct stats *s)
{
	double t = seconds_since(&s->start);

	if (s->finished)
		return;
	s->finished = 1;
	if (s->progress && s->enabled && seconds_since(&s->start) >= 1.0)
		progress(s, 1);
	if (s->metrics_path != NULL)
		write_metrics(s);
	if (s->enabled)
		summary(s, t);
	while (s->rejects.n > 0)
		free(s->rejects.reasons[--s->rejects.n]);
	while (s->notes.n > 0)
		free(s->notes.reasons[--s->notes.n]);
}

static void
summary(struct stats *s, double t)
{
	struct obuf b = { .len = 0 };

	obuf_puts(&b, "{\"tool\":");
	jsonw_string(&b, s->tool, strlen(s->tool));
	for (size_t i = 0; i < s->n; i++) {
		obuf_puts(&b, ",\"");
		obuf_puts(&b, s->names[i]);
		obuf_puts(&b, "\":");
		obuf_putll(&b, atomic_load(&s->counts[i]));
	}
	{
		char num[64];

		snprintf(num, sizeof(num), ",\"seconds\":%.3f,\"per_second\":%.0f",
		    t, t > 0 ? count_of(s, s->rate_of) / t : 0.0);
		obuf_puts(&b, num);
	}
	tally_json(&b, &s->rejects, "rejects");
	tally_json(&b, &s->notes, "notes");
	obuf_puts(&b, "}\n");
	(void)obuf_write(&b, STDERR_FILENO);	/* best effort */
	obuf_free(&b);
}
