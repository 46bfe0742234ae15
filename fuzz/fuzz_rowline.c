/*
 * fuzz_rowline.c - libFuzzer: a line as pg-load reads it, through
 * rowline_parse.  Besides crashes and leaks, the findings are rows that
 * break rowline.h's promise, which is what lets pg-load hand them to
 * COPY unchecked: a user_id, texts without NUL and within their column,
 * a real date.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "ndjson.h"
#include "rowline.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
text(const struct ndjson_text *t, size_t limit, int nullable)
{
	if (t->s == NULL) {
		if (!nullable)
			abort();
		return;
	}
	if (memchr(t->s, '\0', t->n) != NULL || !utf8_valid(t->s, t->n) ||
	    utf8_chars(t->s, t->n) > limit)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jfields_parser p;
	static int ready;
	struct rowline l;
	const struct store_row *r = &l.row;

	if (!ready) {
		jfields_init(&p, NDJSON_MAX_DEPTH, 0);
		ready = 1;
	}
	switch (rowline_parse(&p, (const char *)data, size, &l)) {
	case ROWLINE_ROW:
		text(&r->user_id, LOGIN_MAX_USER_ID, 0);
		text(&r->device_type, LOGIN_MAX_SHORT, 1);
		text(&r->locale, LOGIN_MAX_SHORT, 1);
		text(&r->masked_ip, LOGIN_MAX_MASK, 1);
		text(&r->masked_device_id, LOGIN_MAX_MASK, 1);
		if (r->has_create_date && (r->create_year < 1 ||
		    r->create_year > 9999 || r->create_month < 1 ||
		    r->create_month > 12 || r->create_day < 1 ||
		    r->create_day > 31))
			abort();
		break;
	case ROWLINE_REJECT:
		if (l.reason == NULL)
			abort();
		break;
	default:
		break;
	}
	return 0;
}
