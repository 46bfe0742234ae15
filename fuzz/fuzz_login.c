/*
 * fuzz_login.c - libFuzzer: an input line as pii-mask reads it (envelope
 * or bare body), through jfields and the login rules.  Crashes, leaks and undefined
 * behaviour are the findings; the answers themselves are checked for
 * consistency only.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jfields.h"
#include "ndjson.h"
#include "login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jfields_parser line, body;
	static int ready;
	struct jfields_field f[] = {
		JF_FIELD("message_id"), JF_FIELD("receipt_handle"),
		JF_FIELD("body"), JF_FIELD("sent_timestamp"), LOGIN_FIELDS,
	};
	const char *text = (const char *)data;
	struct login l;

	if (!ready) {
		jfields_init(&line, NDJSON_MAX_DEPTH, JF_UNIQUE_KEYS);
		jfields_init(&body, NDJSON_MAX_DEPTH, JF_UNIQUE_KEYS);
		ready = 1;
	}
	if (jfields_parse(&line, text, size, f, sizeof(f) / sizeof(f[0])) ==
	    JF_OK) {
		if (f[2].type == JF_STRING)
			(void)login_parse(&body, f[2].str, f[2].len, &l);
		else if (login_from_fields(&f[4], &l) == NULL &&
		    (l.user_id.str == NULL || l.user_id.len == 0))
			abort();	/* a valid login always has a user_id */
	}
	return 0;
}
