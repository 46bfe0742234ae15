/*
 * tool.c - helpers for main() that exit.  See tool.h.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "exitcode.h"
#include "tool.h"

void
tool_init_output(void)
{
	/* A failed write must be reported, not kill the tool halfway
	 * through a message. */
	signal(SIGPIPE, SIG_IGN);
	/* Full buffering even on a terminal: tools flush when a batch
	 * ends or input would block. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
}

void
xflush(FILE *f)
{
	if (fflush(f) == EOF || ferror(f))
		err(EXIT_IO, "writing %s", f == stdout ? "standard output" :
		    "output");
}

void
xexit(int status)
{
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
