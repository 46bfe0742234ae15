/*
 * lines.h - bounded, non-blocking-aware reader of newline-delimited input.
 *
 * Every tool reads NDJSON through this.  It reads a file descriptor
 * directly (not stdio) so that a tool can ask "is there a whole line
 * without blocking?" and flush its own output or batch before it waits.
 *
 * Guarantees:
 * - memory is bounded by the maximum line length given at init, whatever
 *   the input; a longer line is skipped up to its newline and reported as
 *   LINES_TOOLONG, never held whole;
 * - a final line without a newline is returned like any other;
 * - the line returned is valid until the next call, is not NUL-terminated
 *   by contract (it may contain NUL bytes) and excludes the newline.
 */
#ifndef LINES_H
#define LINES_H

#include <stddef.h>

enum lines_result {
	LINES_OK,	/* *line and *len describe one line */
	LINES_TOOLONG,	/* a line over the limit was skipped; *len is its size */
	LINES_TIMEOUT,	/* no whole line arrived within the timeout */
	LINES_EOF,	/* end of input, nothing left */
	LINES_ERROR,	/* read(2) failed; errno tells why */
};

struct lines {
	int fd;
	char *buf;
	size_t cap;		/* max line + one read chunk */
	size_t max;		/* longest line accepted */
	size_t start, end;	/* unread bytes are buf[start..end) */
	size_t scanned;		/* bytes after start known to hold no newline */
	size_t skipped;		/* bytes of an overlong line dropped so far */
	size_t lineno;		/* number of the line last returned, from 1 */
	int eof;
};

/* Prepares to read fd with lines of at most max bytes.  Returns 0, or -1
 * with errno set when memory is short. */
int lines_init(struct lines *lr, int fd, size_t max);

/*
 * Returns the next line.  timeout_ms < 0 waits as long as it takes; 0
 * returns LINES_TIMEOUT at once when no whole line is buffered and the
 * descriptor has nothing to read; > 0 waits at most that long for the
 * next bytes.  Interrupted waits and reads are retried.
 */
enum lines_result lines_next(struct lines *lr, int timeout_ms,
    const char **line, size_t *len);

void lines_free(struct lines *lr);

#endif
