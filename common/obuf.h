/*
 * obuf.h - an append-only byte buffer, for output lines and request
 * bodies.
 *
 * Appending never fails visibly: when memory runs out the buffer stops
 * growing, remembers it (oom), and the next obuf_write() reports ENOMEM.
 * So writers compose a whole line with no error checks, and the one place
 * that flushes checks once.  The tools write standard output only through
 * obuf_write(), at the end of a batch or when input would block.
 */
#ifndef OBUF_H
#define OBUF_H

#include <stddef.h>
#include <string.h>

struct obuf {
	char *p;
	size_t len, cap;
	int oom;		/* an append was dropped for want of memory */
};

/* Makes room for n more bytes; 0, or -1 (and oom set). */
int obuf_grow(struct obuf *b, size_t n);

static inline void
obuf_put(struct obuf *b, const void *s, size_t n)
{
	/* Nothing to add: b->p may still be NULL, and NULL + 0 is not C. */
	if (n == 0 || (b->cap - b->len < n && obuf_grow(b, n) < 0))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void
obuf_putc(struct obuf *b, char c)
{
	if (b->len == b->cap && obuf_grow(b, 1) < 0)
		return;
	b->p[b->len++] = c;
}

/* Appends a C string literal or other NUL-terminated text. */
static inline void
obuf_puts(struct obuf *b, const char *s)
{
	obuf_put(b, s, strlen(s));
}

/* Appends a decimal integer. */
void obuf_putll(struct obuf *b, long long v);

/* Writes everything to fd (retrying short writes and EINTR) and empties
 * the buffer.  Returns 0, or -1 with errno (ENOMEM after a lost append). */
int obuf_write(struct obuf *b, int fd);

/* Empties the buffer, keeping its memory. */
static inline void
obuf_clear(struct obuf *b)
{
	b->len = 0;
}

void obuf_free(struct obuf *b);

#endif
