/*
 * sqsanswer.c - what an SQS call does with its answer: parse it, judge a
 * failure, settle a delete's entries, check the MD5 of what was sent and
 * received.  See sqs.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "sqs_int.h"

/* Parses the answer to a request made in protocol c->p.  Returns 0, or
 * -1 when it is not what that protocol answers with. */
int
sqs_answer_parse(struct sqs_call *c)
{
	if (c->p == SQS_QUERY)
		return sqsresp_parse_xml(&c->ans, c->resp.p, c->resp.len);
	return sqsresp_parse_json(&c->ans, c->resp.p, c->resp.len);
}

/* Does the answer look like JSON?  A Query-only server answers a JSON
 * request with XML or plain text, which is how SQS_AUTO tells. */
int
sqs_answer_looks_json(const struct sqs_call *c)
{
	size_t i = 0;

	while (i < c->resp.len && strchr(" \t\r\n", c->resp.p[i]) != NULL)
		i++;
	return i < c->resp.len && c->resp.p[i] == '{';
}

/* Describes a failed answer in c->err; returns 1 if worth retrying. */
int
sqs_answer_failure(struct sqs_call *c, long http)
{
	const char *code = c->ans.error_code, *msg = c->ans.error_message;
	int retry;

	if (code == NULL)
		code = "";
	retry = http >= 500 || http == 429 || strstr(code, "Throttl") ||
	    strstr(code, "OverLimit") || strcmp(code, "ServiceUnavailable") ==
	    0 || strcmp(code, "InternalError") == 0 ||
	    strcmp(code, "InternalFailure") == 0 ||
	    strcmp(code, "RequestTimeout") == 0;
	snprintf(c->err, sizeof(c->err), "%s: HTTP %ld%s%s%s%.200s",
	    sqs_actions[c->op], http, *code ? " " : "", code, msg ? ": " : "",
	    msg ? msg : "");
	return retry;
}

void
sqs_md5_hex(const EVP_MD *md5, const char *s, size_t n, char out[33])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[16];

	if (!EVP_Digest(s, n, md, NULL, md5, NULL))
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0xf];
	}
	out[32] = '\0';
}

/* A DeleteMessageBatch (or ChangeMessageVisibilityBatch) answered:
 * settles its entries, and sends the ones the service failed for its own
 * reasons again, after a backoff. */
static void
batch_answered(struct sqs_call *c)
{
	size_t left = 0;

	for (size_t j = 0; j < c->ans.nents; j++) {
		const struct sqsresp_entry *r = &c->ans.ents[j];
		struct sqs_delete *e;
		unsigned long k;

		if (r->id == NULL || (k = strtoul(r->id, NULL, 10)) >= c->n ||
		    !c->pending[k])
			continue;
		e = &c->e[k];
		if (!r->failed) {
			e->deleted = 1;
			c->pending[k] = 0;
			continue;
		}
		snprintf(e->code, sizeof(e->code), "%s",
		    r->code != NULL ? r->code : "Unknown");
		e->stale = strcmp(e->code, "ReceiptHandleIsInvalid") == 0;
		/* The service's own fault may pass; the sender's not. */
		if (r->sender_fault)
			c->pending[k] = 0;
	}
	for (size_t k = 0; k < c->n; k++)
		left += c->pending[k];
	if (left == 0 || ++c->round >= c->q->max_attempts) {
		sqs_call_end(c, SQS_OK);
		return;
	}
	c->attempt = 0;
	c->due_ms = backoff_now_ms() +
	    backoff_jitter_ms(c->round, SQS_BACKOFF_BASE_MS, SQS_BACKOFF_CAP_MS);
	c->state = C_WAITING;
}

void
sqs_answered(struct sqs_call *c)
{
	char md5[33];

	if (c->op == OP_DELETE || c->op == OP_HIDE) {
		batch_answered(c);
		return;
	}
	if (c->op == OP_SEND) {
		sqs_md5_hex(c->q->md5, c->body, c->body_len, md5);
		if (c->ans.md5_of_message_body == NULL ||
		    strcasecmp(md5, c->ans.md5_of_message_body) != 0) {
			snprintf(c->err, sizeof(c->err), "SendMessage: the "
			    "service stored a body that does not match what "
			    "was sent");
			sqs_call_end(c, SQS_EFAILED);
			return;
		}
	}
	sqs_call_end(c, SQS_OK);
}

int
sqs_call_messages(struct sqs_call *c, sqs_message_fn *fn, void *ctx,
    int *skipped)
{
	int count = 0;

	*skipped = 0;
	if (c->op != OP_RECEIVE || c->abandoned || c->status != SQS_OK)
		return 0;
	for (size_t i = 0; i < c->ans.nmsgs; i++) {
		const struct sqsresp_message *r = &c->ans.msgs[i];
		struct sqs_message m;
		char md5[33];

		if (r->message_id == NULL || r->receipt_handle == NULL ||
		    r->body == NULL) {
			++*skipped;
			continue;
		}
		/* A body damaged on the way stays on the queue; it comes
		 * back, and after enough tries is parked by the redrive. */
		sqs_md5_hex(c->q->md5, r->body, r->body_len, md5);
		if (r->md5_of_body != NULL &&
		    strcasecmp(md5, r->md5_of_body) != 0) {
			++*skipped;
			continue;
		}
		m.message_id = r->message_id;
		m.receipt_handle = r->receipt_handle;
		m.body = r->body;
		m.body_len = r->body_len;
		m.sent_timestamp = r->sent_timestamp;
		m.receive_count = r->receive_count;
		fn(ctx, &m);
		count++;
	}
	return count;
}

