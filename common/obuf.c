/*
 * obuf.c - an append-only byte buffer.  See obuf.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "obuf.h"

int
obuf_grow(struct obuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom)
		return -1;
	while (cap - b->len < n) {
		if (cap > (size_t)-1 / 2)
			goto fail;
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL)
		goto fail;
	b->p = p;
	b->cap = cap;
	return 0;
fail:
	b->oom = 1;
	return -1;
}

void
obuf_putll(struct obuf *b, long long v)
{
	char tmp[24], *e = tmp + sizeof(tmp), *s = e;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do
		*--s = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--s = '-';
	obuf_put(b, s, (size_t)(e - s));
}

int
obuf_write(struct obuf *b, int fd)
{
	size_t off = 0;

	if (b->oom) {
		errno = ENOMEM;
		return -1;
	}
	while (off < b->len) {
		ssize_t n = write(fd, b->p + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	b->len = 0;
	return 0;
}

void
obuf_free(struct obuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}
