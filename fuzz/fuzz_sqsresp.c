/*
 * fuzz_sqsresp.c - libFuzzer: an SQS answer through both of sqsresp's
 * parsers, JSON and XML, as sqs.c hands them what a server sent.  The
 * findings are crashes and leaks, and any answer that breaks sqsresp.h's
 * promises: at most SQSRESP_MAX messages and entries, every string
 * NUL-terminated, a body's length its string's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqsresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct sqsresp *a)
{
	size_t n = 0;

	if (a->nmsgs > SQSRESP_MAX || a->nents > SQSRESP_MAX)
		abort();
	for (size_t i = 0; i < a->nmsgs; i++) {
		const struct sqsresp_message *m = &a->msgs[i];

		if (m->body != NULL && strlen(m->body) > m->body_len)
			abort();	/* a NUL inside is allowed, not past */
		if (m->body == NULL && m->body_len != 0)
			abort();
		n += m->message_id ? strlen(m->message_id) : 0;
		n += m->receipt_handle ? strlen(m->receipt_handle) : 0;
		n += m->md5_of_body ? strlen(m->md5_of_body) : 0;
		if (m->sent_timestamp < -1 || m->receive_count < -1)
			abort();
	}
	for (size_t i = 0; i < a->nents; i++)
		n += (a->ents[i].id ? strlen(a->ents[i].id) : 0) +
		    (a->ents[i].code ? strlen(a->ents[i].code) : 0);
	n += a->error_code ? strlen(a->error_code) : 0;
	n += a->error_message ? strlen(a->error_message) : 0;
	(void)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sqsresp a;
	char *text;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sqsresp_parse_json(&a, text, size) == 0)
		check(&a);
	if (sqsresp_parse_xml(&a, text, size) == 0)
		check(&a);
	free(text);
	return 0;
}
