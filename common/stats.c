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

#ifndef FA_VERSION
#define FA_VERSION "unknown"	/* built outside the Makefile */
#endif

static double
seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* --metrics-label NAME=VALUE added to the labels of every series: NAME
 * a Prometheus label name not used by the tools, VALUE escaped. */
static int
set_label(struct stats *s, const char *arg)
{
	static const char *const ours[] = { "tool", "reason", "service",
	    "version", "le", NULL };
	const char *eq = strchr(arg, '=');
	struct obuf b = { .len = 0 };
	size_t n;
	int ok = 1;

	n = eq != NULL ? (size_t)(eq - arg) : 0;
	if (n == 0 || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") != n ||
	    (arg[0] >= '0' && arg[0] <= '9') || strncmp(arg, "__", 2) == 0)
		ok = 0;
	for (size_t i = 0; ok && ours[i] != NULL; i++)
		if (strlen(ours[i]) == n && strncmp(arg, ours[i], n) == 0)
			ok = 0;
	if (!ok) {
		warnx("--metrics-label: expected NAME=VALUE, NAME a label "
		    "name other than tool, reason, service, version or le");
		return -1;
	}
	if (ok && s->label[0] != '\0') {	/* a name given twice */
		char again[80];

		snprintf(again, sizeof(again), ",%.*s=\"", (int)n, arg);
		if (n < 64 && strstr(s->label, again) != NULL) {
			warnx("--metrics-label: %.*s given twice", (int)n, arg);
			return -1;
		}
	}
	for (const char *v = eq + 1; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			ok = 0;
	obuf_putc(&b, ',');
	obuf_put(&b, arg, n + 1);
	/* JSON's escapes of \\ and " are the text format's too */
	jsonw_string(&b, eq + 1, strlen(eq + 1));
	if (!ok || b.oom || strlen(s->label) + b.len >= sizeof(s->label)) {
		warnx("--metrics-label: the value is too long or has control "
		    "characters");
		obuf_free(&b);
		return -1;
	}
	memcpy(s->label + strlen(s->label), b.p, b.len);	/* zeroed */
	obuf_free(&b);
	return 1;
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
	else if (c == 'B')
		return set_label(s, arg);
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
stats_init(struct stats *s, const char *tool,
    const struct stats_counter *counters, const char *rate_of)
{
	s->tool = tool;
	s->counters = counters;
	for (s->n = 0; counters[s->n].name != NULL && s->n < STATS_MAX; s->n++)
		atomic_init(&s->counts[s->n], 0);
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

void
stats_watch(struct stats *s, const struct outage *o)
{
	if (s->nservices < STATS_MAX_SERVICES)
		s->services[s->nservices++] = o;
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

/* The HELP and TYPE lines of a family. */
static void
family(struct obuf *b, const char *name, const char *type, const char *help)
{
	obuf_puts(b, "# HELP fetch_awards_");
	obuf_puts(b, name);
	obuf_putc(b, ' ');
	obuf_puts(b, help);
	obuf_puts(b, "\n# TYPE fetch_awards_");
	obuf_puts(b, name);
	obuf_putc(b, ' ');
	obuf_puts(b, type);
	obuf_putc(b, '\n');
}

/* A series: fetch_awards_NAME{tool="...",LABEL,EXTRA} (EXTRA: NULL or
 * more labels, with their leading comma), without its value. */
static void
series(struct obuf *b, const struct stats *s, const char *name,
    const char *extra)
{
	obuf_puts(b, "fetch_awards_");
	obuf_puts(b, name);
	obuf_puts(b, "{tool=\"");
	obuf_puts(b, s->tool);
	obuf_putc(b, '"');
	obuf_puts(b, s->label);
	if (extra != NULL)
		obuf_puts(b, extra);
	obuf_puts(b, "} ");
}

static void
value_ll(struct obuf *b, long long v)
{
	obuf_putll(b, v);
	obuf_putc(b, '\n');
}

static void
value_f(struct obuf *b, double v)
{
	char num[64];

	snprintf(num, sizeof(num), "%.6f\n", v);
	obuf_puts(b, num);
}

/* One counter family by reason. */
static void
tally_metrics(struct obuf *b, const struct stats *s, const struct stats_tally *t,
    const char *name, const char *help)
{
	if (t->n == 0)
		return;
	family(b, name, "counter", help);
	for (size_t i = 0; i < t->n; i++) {
		struct obuf label = { .len = 0 };

		/* a JSON string is a valid label value here: the reasons
		 * are fixed ASCII phrases */
		obuf_puts(&label, ",reason=");
		jsonw_string(&label, t->reasons[i], strlen(t->reasons[i]));
		obuf_putc(&label, '\0');
		if (!label.oom) {
			series(b, s, name, label.p);
			value_ll(b, t->counts[i]);
		}
		obuf_free(&label);
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

static const double lag_bounds[STATS_NLAG] = { STATS_LAG_BUCKETS };

void
stats_lag(struct stats *s, long long sent_ms)
{
	struct timespec now;
	long long ms;
	size_t i;

	if (sent_ms < 0)
		return;		/* unknown */
	clock_gettime(CLOCK_REALTIME, &now);
	ms = now.tv_sec * 1000LL + now.tv_nsec / 1000000 - sent_ms;
	if (ms < 0)
		ms = 0;		/* the sender's clock is ahead of ours */
	for (i = 0; i < STATS_NLAG && (double)ms > lag_bounds[i] * 1000; i++)
		;
	if (i < STATS_NLAG)
		atomic_fetch_add(&s->lag_buckets[i], 1);
	atomic_fetch_add(&s->lag_count, 1);
	atomic_fetch_add(&s->lag_sum_ms, (long)ms);
}

static long
count_of(struct stats *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->counters[i].name, name) == 0)
			return atomic_load(&s->counts[i]);
	return 0;
}

/* The lag histogram: cumulative buckets, then +Inf, sum and count. */
static void
lag_metrics(struct obuf *b, const struct stats *s)
{
	long cumulative = 0;

	family(b, "commit_lag_seconds", "histogram", "Time from a message's "
	    "SentTimestamp to the commit of its row (or its reject).");
	for (size_t i = 0; i < STATS_NLAG; i++) {
		char le[48];

		cumulative += atomic_load(&s->lag_buckets[i]);
		snprintf(le, sizeof(le), ",le=\"%g\"", lag_bounds[i]);
		series(b, s, "commit_lag_seconds_bucket", le);
		value_ll(b, cumulative);
	}
	series(b, s, "commit_lag_seconds_bucket", ",le=\"+Inf\"");
	value_ll(b, atomic_load(&s->lag_count));
	series(b, s, "commit_lag_seconds_sum", NULL);
	value_f(b, atomic_load(&s->lag_sum_ms) / 1e3);
	series(b, s, "commit_lag_seconds_count", NULL);
	value_ll(b, atomic_load(&s->lag_count));
}

/* Retries, outages and whether each service watched is up. */
static void
service_metrics(struct obuf *b, const struct stats *s)
{
	static const struct {
		const char *name, *type, *help;
	} families[] = {
		{ "retries_total", "counter", "Failed attempts at a service "
		    "that were retried." },
		{ "outages_total", "counter", "Times a service went away "
		    "(failed, and was retried until it answered again)." },
		{ "service_up", "gauge", "1 while a service answers, 0 "
		    "while it is away." },
	};

	if (s->nservices == 0)
		return;
	for (size_t f = 0; f < 3; f++) {
		family(b, families[f].name, families[f].type,
		    families[f].help);
		for (size_t i = 0; i < s->nservices; i++) {
			const struct outage *o = s->services[i];
			char label[64];

			snprintf(label, sizeof(label), ",service=\"%s\"",
			    o->service);
			series(b, s, families[f].name, label);
			value_ll(b, f == 0 ? atomic_load(&o->retries) :
			    f == 1 ? atomic_load(&o->outages) :
			    !atomic_load(&o->down));
		}
	}
}

/* Writes the Prometheus text format to path.tmp, then renames it over
 * path, so a collector never reads half a file. */
static void
write_metrics(struct stats *s)
{
	struct obuf b = { .len = 0 };
	char tmp[4096];
	FILE *f;

	family(&b, "build_info", "gauge", "The version of the tool, as "
	    "the label version; always 1.");
	series(&b, s, "build_info", ",version=\"" FA_VERSION "\"");
	value_ll(&b, 1);
	for (size_t i = 0; i < s->n; i++) {
		const struct stats_counter *c = &s->counters[i];
		char name[96];

		if (c->family == NULL)
			continue;	/* shown by reason */
		snprintf(name, sizeof(name), "%s_total", c->family);
		family(&b, name, "counter", c->help);
		series(&b, s, name, NULL);
		value_ll(&b, atomic_load(&s->counts[i]));
	}
	while (atomic_flag_test_and_set(&s->reasons_busy))
		;
	tally_metrics(&b, s, &s->rejects, "rejects_total",
	    "Messages or lines rejected, by reason.");
	tally_metrics(&b, s, &s->notes, "notes_total",
	    "Values stored by a rule that changed how, by reason.");
	atomic_flag_clear(&s->reasons_busy);
	if (atomic_load(&s->latency_count) > 0) {
		family(&b, "batch_seconds", "summary", "Time to handle a "
		    "batch.");
		series(&b, s, "batch_seconds_sum", NULL);
		value_f(&b, atomic_load(&s->latency_sum_us) / 1e6);
		series(&b, s, "batch_seconds_count", NULL);
		value_ll(&b, atomic_load(&s->latency_count));
		family(&b, "last_batch_seconds", "gauge", "Time the last "
		    "batch took.");
		series(&b, s, "last_batch_seconds", NULL);
		value_f(&b, atomic_load(&s->latency_last_us) / 1e6);
	}
	if (s->lag_measured)
		lag_metrics(&b, s);
	service_metrics(&b, s);
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

/* ,"KEY":{"service":n,...}: the retries or the outages of each service */
static void
services_json(struct obuf *b, const struct stats *s, const char *key)
{
	obuf_puts(b, ",\"");
	obuf_puts(b, key);
	obuf_puts(b, "\":{");
	for (size_t i = 0; i < s->nservices; i++) {
		const struct outage *o = s->services[i];

		if (i > 0)
			obuf_putc(b, ',');
		jsonw_string(b, o->service, strlen(o->service));
		obuf_putc(b, ':');
		obuf_putll(b, atomic_load(strcmp(key, "retries") == 0 ?
		    &o->retries : &o->outages));
	}
	obuf_putc(b, '}');
}

static void
summary(struct stats *s, double t)
{
	struct obuf b = { .len = 0 };

	obuf_puts(&b, "{\"tool\":");
	jsonw_string(&b, s->tool, strlen(s->tool));
	for (size_t i = 0; i < s->n; i++) {
		obuf_puts(&b, ",\"");
		obuf_puts(&b, s->counters[i].name);
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
	if (s->nservices > 0) {
		services_json(&b, s, "retries");
		services_json(&b, s, "outages");
	}
	obuf_puts(&b, "}\n");
	(void)obuf_write(&b, STDERR_FILENO);	/* best effort */
	obuf_free(&b);
}
