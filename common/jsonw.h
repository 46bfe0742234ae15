/*
 * jsonw.h - writing JSON values into an obuf.
 */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>

#include "obuf.h"

/* Appends s[0..n) as a quoted JSON string.  Quote, backslash and control
 * characters are escaped; other bytes, UTF-8 included, pass unchanged. */
void jsonw_string(struct obuf *b, const char *s, size_t n);

/* Appends the string, or null when s is NULL. */
void jsonw_string_or_null(struct obuf *b, const char *s, size_t n);

/* Appends a count, or null when it is negative (the convention for
 * "unknown" of sent_timestamp and receive_count). */
void jsonw_count_or_null(struct obuf *b, long long v);

#endif
