/*
 * copybin.c - binary COPY encoding.  See copybin.h.
 */
#include <arpa/inet.h>

#include "copybin.h"

void
copybin_put_be32(struct obuf *b, uint32_t v)
{
	v = htonl(v);
	obuf_put(b, &v, 4);
}

void
copybin_null(struct obuf *b)
{
	copybin_put_be32(b, 0xffffffffu);
}

void
copybin_bytes(struct obuf *b, const void *s, size_t n)
{
	if (s == NULL) {
		copybin_null(b);
		return;
	}
	copybin_put_be32(b, (uint32_t)n);
	obuf_put(b, s, n);
}

void
copybin_int4(struct obuf *b, int32_t v)
{
	copybin_put_be32(b, 4);
	copybin_put_be32(b, (uint32_t)v);
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static long
days_from_civil(long y, long m, long d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
copybin_date(struct obuf *b, int year, int month, int day)
{
	/* PostgreSQL dates count days from 2000-01-01. */
	static const long pg_epoch = 10957;

	copybin_int4(b, (int32_t)(days_from_civil(year, month, day) -
	    pg_epoch));
}
