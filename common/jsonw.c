/*
 * jsonw.c - writing JSON values.  See jsonw.h.
 */
#include <stdio.h>

#include "jsonw.h"

void
jsonw_string(FILE *f, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;		/* start of the bytes not yet written */

	putc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		fwrite(s + run, 1, i - run, f);
		run = i + 1;
		switch (c) {
		case '"':  esc = '"'; break;
		case '\\': esc = '\\'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		default:
			fputs("\\u00", f);
			putc(hex[c >> 4], f);
			putc(hex[c & 0xf], f);
			continue;
		}
		putc('\\', f);
		putc(esc, f);
	}
	fwrite(s + run, 1, n - run, f);
	putc('"', f);
}

void
jsonw_string_or_null(FILE *f, const char *s, size_t n)
{
	if (s == NULL)
		fputs("null", f);
	else
		jsonw_string(f, s, n);
}
