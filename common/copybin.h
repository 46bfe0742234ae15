/*
 * copybin.h - PostgreSQL's binary COPY format, written into an obuf.
 *
 * A stream is COPYBIN_HEADER, then tuples, then COPYBIN_TRAILER.  A tuple
 * is copybin_tuple() with its number of fields, then one call per field.
 * Integers are big-endian; a field is its length and its bytes, or length
 * -1 for NULL.  Like every obuf writer these cannot fail visibly: a short
 * memory shows as the buffer's oom flag.
 */
#ifndef COPYBIN_H
#define COPYBIN_H

#include <stddef.h>
#include <stdint.h>

#include "obuf.h"

/* Signature, flags (no OIDs) and an empty header extension. */
#define COPYBIN_HEADER "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0"
#define COPYBIN_HEADER_LEN 19
/* A tuple of -1 fields. */
#define COPYBIN_TRAILER "\377\377"
#define COPYBIN_TRAILER_LEN 2

void copybin_put_be32(struct obuf *b, uint32_t v);

static inline void
copybin_tuple(struct obuf *b, unsigned nfields)
{
	char n[2] = { (char)(nfields >> 8), (char)(nfields & 0xff) };

	obuf_put(b, n, 2);
}

void copybin_null(struct obuf *b);

/* A text or bytea value; NULL s is SQL NULL. */
void copybin_bytes(struct obuf *b, const void *s, size_t n);

/* An integer (int4). */
void copybin_int4(struct obuf *b, int32_t v);

/* A date, given as a real proleptic Gregorian calendar date. */
void copybin_date(struct obuf *b, int year, int month, int day);

#endif
