/*
 * tool.c - helpers for main() that exit.  See tool.h.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "exitcode.h"
#include "tool.h"

void
tool_init_output(void)
{
	signal(SIGPIPE, SIG_IGN);
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
