/*
 * utf8.h - strict UTF-8 checks, as RFC 3629 and PostgreSQL define them.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

/* Returns 1 when s[0..n) is well-formed UTF-8: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence.  NUL bytes are well-formed; callers that refuse them check. */
int utf8_valid(const char *s, size_t n);

/* Returns the number of code points in well-formed UTF-8, which is how
 * PostgreSQL counts characters for varchar(n) in a UTF8 database. */
size_t utf8_chars(const char *s, size_t n);

#endif
