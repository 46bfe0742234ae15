/*
 * jsonw.c - writing JSON values.  See jsonw.h.
 */
#include "jsonw.h"

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
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 0 };

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
