/*
 * rowline.h - pii-mask's output lines as pg-load reads them: a row to
 * store, or a reject to record and pass on, each with its message's ids
 * (docs/ndjson.md).
 *
 * A row is checked against the table before it goes near PostgreSQL:
 * text within its column's length and free of NUL, app_version an
 * integer, create_date a real calendar date.  So a bad line is one
 * clear warning, not a failed COPY.
 *
 * Ownership: the strings of a parsed line point into the jfields parser
 * and are valid until its next parse.
 */
#ifndef ROWLINE_H
#define ROWLINE_H

#include <stddef.h>

#include "jfields.h"
#include "store.h"

enum rowline_kind {
	ROWLINE_ROW,
	ROWLINE_REJECT,
	ROWLINE_EJSON,		/* not a JSON object */
	ROWLINE_EREJECT,	/* a reject whose ids are invalid */
	ROWLINE_EROW,		/* neither a valid row nor a reject */
};

struct rowline {
	struct store_row row;	/* a row; row.ids for every kind */
	const char *reason;	/* a reject's reason */
	size_t reason_len;
	/* For the E kinds: why the line cannot be used, a fixed phrase
	 * (ndjson.h's for the ids).  The ids that are valid are in row.ids,
	 * so pg-load can record and pass on the line as a reject. */
	const char *why;
};

/* Parses line[0..len) with p (made with jfields_init; any flags). */
enum rowline_kind rowline_parse(struct jfields_parser *p, const char *line,
    size_t len, struct rowline *out);

#endif
