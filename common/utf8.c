/*
 * utf8.c - strict UTF-8 checks.  See utf8.h.
 */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

#define HIGH_BITS 0x8080808080808080ULL

int
utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + n;

	while (s < end) {
		unsigned c = *s;
		unsigned lo = 0x80, hi = 0xbf;	/* range of the 2nd byte */
		size_t need;

		if (c < 0x80) {
			/* JSON is mostly ASCII: skip it eight bytes at a time. */
			uint64_t w;

			while (end - s >= 8) {
				memcpy(&w, s, 8);
				if (w & HIGH_BITS)
					break;
				s += 8;
			}
			while (s < end && *s < 0x80)
				s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else
			return 0;	/* stray continuation, C0/C1, F5.. */
		if ((size_t)(end - s) <= need || s[1] < lo || s[1] > hi)
			return 0;
		for (size_t i = 2; i <= need; i++)
			if ((s[i] & 0xc0) != 0x80)
				return 0;
		s += need + 1;
	}
	return 1;
}

size_t
utf8_chars(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t chars = 0;

	for (size_t i = 0; i < n; i++)
		chars += (s[i] & 0xc0) != 0x80;
	return chars;
}
