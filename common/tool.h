/*
 * tool.h - helpers for the tools' main() functions.
 *
 * These are the only functions in common/ that exit: each dies with the
 * exit status of exitcode.h and a message naming the tool (err(3)).  The
 * rest of common/ returns errors.
 */
#ifndef TOOL_H
#define TOOL_H

#include <signal.h>

#include "obuf.h"

/* The size at which a tool writes its output buffer out even if more
 * input is ready: large writes, bounded memory. */
#define TOOL_OUT_CHUNK 65536

/* Makes a closed pipe an EPIPE error to report, instead of a silent
 * SIGPIPE death halfway through a line. */
void tool_init_output(void);

/* Set by the first SIGTERM or SIGINT once tool_catch_signals() has run. */
extern volatile sig_atomic_t tool_stop;

/* Makes the first SIGTERM or SIGINT set tool_stop instead of killing, so
 * the tool can end cleanly: it interrupts a blocking read or wait (no
 * SA_RESTART), and the tool finishes what it holds and exits 0.  A second
 * signal ends the tool at once, as the signal would have: nothing is
 * acknowledged that was not stored, so nothing is lost either way. */
void tool_catch_signals(void);

/* Writes out to standard output and empties it; on failure exits EXIT_IO. */
void xwrite(struct obuf *out);

/* Writes out (if not NULL), then flushes and closes stdio's stdout (where
 * --help goes), exiting EXIT_IO if anything was lost; then exits with
 * status. */
void xexit(struct obuf *out, int status) __attribute__((noreturn));

/* Prints "name (fetch-awards) VERSION" on standard output and exits 0:
 * --version, the same in every tool of one build. */
void tool_version(const char *name) __attribute__((noreturn));

/*
 * Logs on standard error, in one write, what became of a message:
 *   "TOOL: line N: message ID EVENT: DETAIL"
 * (no "line N: " when lineno is 0, no ": DETAIL" when detail is NULL).
 * ID and DETAIL come from input or from a server, so both are written as
 * JSON strings (ID null when NULL): no newline or control character in
 * them can forge a log line.  The one way ids and values reach a log.
 */
void tool_log_message(size_t lineno, const char *id, size_t id_len,
    const char *event, const char *detail, size_t detail_len);

/*
 * Logs a service going away and coming back (an outage_report_fn,
 * outage.h): "TOOL: sqs is failing: WHY; retrying", and
 * "TOOL: sqs answers again after N s (K failed tries)".
 */
struct outage;
void tool_outage_report(const struct outage *o, int down, const char *why);

/* stats_option() (stats.h) for getopt's option c: returns 1 if it took
 * it; exits EXIT_USAGE on a bad value. */
struct stats;
int xstats_option(struct stats *s, int c, const char *arg);

/* Parses a decimal option value in [min, max]; otherwise reports the
 * option by name and exits EXIT_USAGE. */
long xnumber(const char *arg, const char *option, long min, long max);

#endif
