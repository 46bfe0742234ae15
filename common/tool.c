/*
 * tool.c - helpers for main() that exit.  See tool.h.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "jsonw.h"
#include "outage.h"
#include "stats.h"
#include "tool.h"

void
tool_init_output(void)
{
	signal(SIGPIPE, SIG_IGN);
}

volatile sig_atomic_t tool_stop;

static void
on_signal(int sig)
{
	if (tool_stop) {
		/* The second: end as the signal would have. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	tool_stop = 1;
}

void
tool_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: let blocking calls return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

void
xwrite(struct obuf *out)
{
	if (obuf_write(out, STDOUT_FILENO) < 0)
		err(EXIT_IO, "writing standard output");
}

void
xexit(struct obuf *out, int status)
{
	if (out != NULL) {
		xwrite(out);
		obuf_free(out);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EXIT_IO, "writing standard output");
	if (fclose(stdout) == EOF)
		err(EXIT_IO, "closing standard output");
	exit(status);
}

long
xnumber(const char *arg, const char *option, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || errno == ERANGE || v < min ||
	    v > max) {
		warnx("%s: expected a whole number from %ld to %ld", option,
		    min, max);
		exit(EXIT_USAGE);
	}
	return v;
}

#ifndef FA_VERSION
#define FA_VERSION "unknown"	/* built outside the Makefile */
#endif

void
tool_version(const char *name)
{
	printf("%s (fetch-awards) %s\n", name, FA_VERSION);
	xexit(NULL, EXIT_OK);
}

void
tool_log_message(size_t lineno, const char *id, size_t id_len,
    const char *event, const char *detail, size_t detail_len)
{
	struct obuf msg = { .len = 0 };

	obuf_puts(&msg, program_invocation_short_name);
	obuf_puts(&msg, ": ");
	if (lineno > 0) {
		obuf_puts(&msg, "line ");
		obuf_putll(&msg, (long long)lineno);
		obuf_puts(&msg, ": ");
	}
	obuf_puts(&msg, "message ");
	jsonw_string_or_null(&msg, id, id_len);
	obuf_putc(&msg, ' ');
	obuf_puts(&msg, event);
	if (detail != NULL) {
		obuf_puts(&msg, ": ");
		jsonw_string(&msg, detail, detail_len);
	}
	obuf_putc(&msg, '\n');
	(void)obuf_write(&msg, STDERR_FILENO);	/* best effort */
	obuf_free(&msg);
}

void
tool_outage_report(const struct outage *o, int down, const char *why)
{
	if (down)
		warnx("%s is failing: %s; retrying", o->service, why);
	else
		warnx("%s answers again after %.0f s (%ld failed tries)",
		    o->service,
		    (double)outage_length_ms(o) / 1000.0,
		    atomic_load(&o->retries) - atomic_load(&o->retries_then));
}

int
xstats_option(struct stats *s, int c, const char *arg)
{
	int taken = stats_option(s, c, arg);

	if (taken < 0)
		exit(EXIT_USAGE);
	return taken;
}
