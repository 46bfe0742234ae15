/*
 * jsonw.h - writing JSON values to a stdio stream.
 *
 * Output goes through the stream's own buffer; write errors are left in
 * the stream (ferror) for the tool to check once, when it flushes.
 */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>
#include <stdio.h>

/* Writes s[0..n) as a quoted JSON string.  Quote, backslash and control
 * characters are escaped; other bytes, UTF-8 included, pass unchanged. */
void jsonw_string(FILE *f, const char *s, size_t n);

/* Writes the string, or null when s is NULL. */
void jsonw_string_or_null(FILE *f, const char *s, size_t n);

#endif
