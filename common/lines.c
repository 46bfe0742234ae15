/*
 * lines.c - bounded reader of newline-delimited input.  See lines.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"

/* Bytes asked of each read(2): large enough that a pipe is drained in
 * few system calls, small next to the 1 MiB line limit. */
#define LINES_CHUNK 65536

int
lines_init(struct lines *lr, int fd, size_t max)
{
	memset(lr, 0, sizeof(*lr));
	lr->fd = fd;
	lr->max = max;
	lr->cap = max + LINES_CHUNK;
	if ((lr->buf = malloc(lr->cap)) == NULL)
		return -1;
	return 0;
}

void
lines_free(struct lines *lr)
{
	free(lr->buf);
	lr->buf = NULL;
}

/*
 * Reads once into the free tail of the buffer.  Returns LINES_OK when
 * bytes arrived or end of input was seen, LINES_TIMEOUT when nothing came
 * in time (or a signal interrupted the wait, so the caller can look at
 * its flags), LINES_ERROR otherwise.
 */
static enum lines_result
fill(struct lines *lr, int timeout_ms)
{
	ssize_t n;

	if (lr->start > 0 && lr->cap - lr->end < LINES_CHUNK) {
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
	}
	if (timeout_ms >= 0) {
		struct pollfd pfd = { .fd = lr->fd, .events = POLLIN };
		int r = poll(&pfd, 1, timeout_ms);

		if (r == 0 || (r < 0 && errno == EINTR))
			return LINES_TIMEOUT;
		if (r < 0)
			return LINES_ERROR;
	}
	n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ?
		    LINES_TIMEOUT : LINES_ERROR;
	if (n == 0)
		lr->eof = 1;
	lr->end += (size_t)n;
	return LINES_OK;
}

/* Hands out the n bytes at start as a line and consumes used bytes. */
static enum lines_result
take(struct lines *lr, size_t n, size_t used, const char **line, size_t *len)
{
	*line = lr->buf + lr->start;
	*len = lr->skipped + n;
	lr->start += used;
	lr->scanned = 0;
	lr->skipped = 0;
	lr->lineno++;
	/* Whole in the buffer, but still over the limit: the same verdict
	 * as a line too long to buffer, whatever the read sizes were. */
	return *len > lr->max ? LINES_TOOLONG : LINES_OK;
}

enum lines_result
lines_next(struct lines *lr, int timeout_ms, const char **line, size_t *len)
{
	enum lines_result r;

	for (;;) {
		char *from = lr->buf + lr->start + lr->scanned;
		char *nl = memchr(from, '\n', lr->end - lr->start - lr->scanned);
		size_t avail;

		if (nl != NULL) {
			size_t n = (size_t)(nl - (lr->buf + lr->start));

			return take(lr, n, n + 1, line, len);
		}
		avail = lr->end - lr->start;
		lr->scanned = avail;
		if (lr->eof) {
			if (avail == 0 && lr->skipped == 0)
				return LINES_EOF;
			return take(lr, avail, avail, line, len);
		}
		if (lr->skipped > 0 || avail > lr->max) {
			/* Too long to keep: drop what is buffered and go on
			 * reading until the newline that ends it.  The line
			 * is reported only when that newline is found. */
			lr->skipped += avail;
			lr->start = lr->end = lr->scanned = 0;
		}
		if ((r = fill(lr, timeout_ms)) != LINES_OK)
			return r;
	}
}
