/*
 * jsonw.c - writing JSON values.  See jsonw.h.
 */
#include <stdint.h>

#include "jsonw.h"

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Does the word hold a byte that needs escaping: below 0x20, '"' or
 * '\'?  The usual SWAR tests (exact for "is there such a byte", which
 * is all this asks): a byte below n makes (x - n*ONES) & ~x set its high
 * bit, and a byte equal to c is a zero byte of x ^ c*ONES.  Most strings
 * written (masks, ids, user_ids) have none, so eight bytes go at a time.
 */
static inline int
word_needs_escape(uint64_t x)
{
	uint64_t q = x ^ ('"' * ONES), b = x ^ ('\\' * ONES);

	return ((((x - 0x20 * ONES) & ~x) | ((q - ONES) & ~q) |
	    ((b - ONES) & ~b)) & HIGHS) != 0;
}

/* Control characters, quote and backslash must be escaped. */
static inline int
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

void
jsonw_string(struct obuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;		/* start of the bytes not yet written */

	obuf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c;
		char esc[6] = { '\\', 0 };
		uint64_t w;

		/* Skip whole words that need nothing. */
		while (n - i >= 8) {
			memcpy(&w, s + i, 8);
			if (word_needs_escape(w))
				break;
			i += 8;
		}
		if (i == n)
			break;
		c = (unsigned char)s[i];
		if (!needs_escape(c))
			continue;
		obuf_put(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':  esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			obuf_put(b, esc, 6);
			continue;
		}
		obuf_put(b, esc, 2);
	}
	obuf_put(b, s + run, n - run);
	obuf_putc(b, '"');
}

void
jsonw_string_or_null(struct obuf *b, const char *s, size_t n)
{
	if (s == NULL)
		obuf_puts(b, "null");
	else
		jsonw_string(b, s, n);
}

void
jsonw_count_or_null(struct obuf *b, long long v)
{
	if (v >= 0)
		obuf_putll(b, v);
	else
		obuf_puts(b, "null");
}
