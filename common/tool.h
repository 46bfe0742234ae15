/*
 * tool.h - helpers for the tools' main() functions.
 *
 * These are the only functions in common/ that exit: each dies with the
 * exit status of exitcode.h and a message naming the tool (err(3)).  The
 * rest of common/ returns errors.
 */
#ifndef TOOL_H
#define TOOL_H

#include <stdio.h>

/* Sets up stdout for large buffered writes and makes a closed pipe an
 * EPIPE error to report instead of a silent SIGPIPE death. */
void tool_init_output(void);

/* Flushes f; on a write error exits EXIT_IO. */
void xflush(FILE *f);

/* Flushes and closes stdout, exiting EXIT_IO when anything written was
 * lost, then exits with status. */
void xexit(int status) __attribute__((noreturn));

/* Parses a decimal option value in [min, max]; otherwise reports the
 * option by name and exits EXIT_USAGE. */
long xnumber(const char *arg, const char *option, long min, long max);

#endif
