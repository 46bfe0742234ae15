/*
 * sqsreq.c - SQS request bodies.  See sqsreq.h.
 */
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "sqsreq.h"

/* Appends a form field "&name=value", percent-encoded. */
static void
form(struct obuf *b, const char *name, const char *v, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	if (b->len > 0)
		obuf_putc(b, '&');
	obuf_puts(b, name);
	obuf_putc(b, '=');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == '~')
			obuf_putc(b, (char)c);
		else {
			obuf_putc(b, '%');
			obuf_putc(b, hex[c >> 4]);
			obuf_putc(b, hex[c & 15]);
		}
	}
}

static void
form_int(struct obuf *b, const char *name, long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", v);
	form(b, name, num, strlen(num));
}

/* Starts a body: the object, or the form, with the queue in it. */
static void
start(struct obuf *b, enum sqs_protocol p, const char *action,
    const char *queue)
{
	obuf_clear(b);
	if (p == SQS_QUERY) {
		form(b, "Action", action, strlen(action));
		form(b, "Version", SQSREQ_API_VERSION,
		    strlen(SQSREQ_API_VERSION));
		form(b, "QueueUrl", queue, strlen(queue));
	} else {
		obuf_puts(b, "{\"QueueUrl\":");
		jsonw_string(b, queue, strlen(queue));
	}
}

void
sqsreq_receive(struct obuf *b, enum sqs_protocol p, const char *queue,
    int max, int wait, int visibility)
{
	start(b, p, "ReceiveMessage", queue);
	if (p == SQS_QUERY) {
		form_int(b, "MaxNumberOfMessages", max);
		form_int(b, "WaitTimeSeconds", wait);
		if (visibility >= 0)
			form_int(b, "VisibilityTimeout", visibility);
		form(b, "AttributeName.1", "SentTimestamp", 13);
		form(b, "AttributeName.2", "ApproximateReceiveCount", 23);
		return;
	}
	obuf_puts(b, ",\"MaxNumberOfMessages\":");
	obuf_putll(b, max);
	obuf_puts(b, ",\"WaitTimeSeconds\":");
	obuf_putll(b, wait);
	if (visibility >= 0) {
		obuf_puts(b, ",\"VisibilityTimeout\":");
		obuf_putll(b, visibility);
	}
	/* Both names: AttributeNames is deprecated, some servers know only it. */
	obuf_puts(b, ",\"AttributeNames\":[\"SentTimestamp\","
	    "\"ApproximateReceiveCount\"],\"MessageSystemAttributeNames\":"
	    "[\"SentTimestamp\",\"ApproximateReceiveCount\"]}");
}

/* A batch of entries by receipt handle: DeleteMessageBatch, or
 * ChangeMessageVisibilityBatch with each entry's seconds. */
static void
batch(struct obuf *b, enum sqs_protocol p, const char *action,
    const char *queue, const struct sqs_delete *e,
    const unsigned char *pending, size_t n, int hide)
{
	int k = 0;

	start(b, p, action, queue);
	if (p != SQS_QUERY)
		obuf_puts(b, ",\"Entries\":[");
	for (size_t i = 0; i < n; i++) {
		const char *rh = e[i].receipt_handle;
		char name[96], id[24];

		if (!pending[i])
			continue;
		snprintf(id, sizeof(id), "%zu", i);
		k++;
		if (p == SQS_QUERY) {
			snprintf(name, sizeof(name), "%sRequestEntry.%d.Id",
			    action, k);
			form(b, name, id, strlen(id));
			snprintf(name, sizeof(name),
			    "%sRequestEntry.%d.ReceiptHandle", action, k);
			form(b, name, rh, strlen(rh));
			if (hide) {
				snprintf(name, sizeof(name),
				    "%sRequestEntry.%d.VisibilityTimeout",
				    action, k);
				form_int(b, name, e[i].seconds);
			}
			continue;
		}
		obuf_puts(b, k > 1 ? ",{\"Id\":\"" : "{\"Id\":\"");
		obuf_puts(b, id);
		obuf_puts(b, "\",\"ReceiptHandle\":");
		jsonw_string(b, rh, strlen(rh));
		if (hide) {
			obuf_puts(b, ",\"VisibilityTimeout\":");
			obuf_putll(b, e[i].seconds);
		}
		obuf_putc(b, '}');
	}
	if (p != SQS_QUERY)
		obuf_puts(b, "]}");
}

void
sqsreq_delete(struct obuf *b, enum sqs_protocol p, const char *queue,
    const struct sqs_delete *e, const unsigned char *pending, size_t n)
{
	batch(b, p, "DeleteMessageBatch", queue, e, pending, n, 0);
}

void
sqsreq_hide(struct obuf *b, enum sqs_protocol p, const char *queue,
    const struct sqs_delete *e, const unsigned char *pending, size_t n)
{
	batch(b, p, "ChangeMessageVisibilityBatch", queue, e, pending, n, 1);
}

void
sqsreq_send(struct obuf *b, enum sqs_protocol p, const char *queue,
    const char *body, size_t len)
{
	start(b, p, "SendMessage", queue);
	if (p == SQS_QUERY) {
		form(b, "MessageBody", body, len);
		return;
	}
	obuf_puts(b, ",\"MessageBody\":");
	jsonw_string(b, body, len);
	obuf_putc(b, '}');
}
