/*
 * ndjson.c - the ids of the lines between the stages.  See ndjson.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "ndjson.h"

const struct ndjson_ids ndjson_no_ids = { .sent_timestamp = -1,
    .receive_count = -1 };

enum { I_MESSAGE_ID, I_RECEIPT_HANDLE, I_SENT_TIMESTAMP, I_RECEIVE_COUNT };

/* An integer field within [0, max]; -1 when null or absent; -2 for
 * anything else (a fraction, an exponent, a sign, out of range). */
static long long
count_of(const struct jfields_field *f, long long max)
{
	char num[24], *end;
	long long v;

	if (f->type == JF_NULL || f->type == JF_ABSENT)
		return -1;
	if (f->type != JF_NUMBER || f->len == 0 || f->len >= sizeof(num))
		return -2;
	for (size_t i = 0; i < f->len; i++)	/* not NUL-terminated */
		if (f->str[i] < '0' || f->str[i] > '9')
			return -2;
	memcpy(num, f->str, f->len);
	num[f->len] = '\0';
	errno = 0;
	v = strtoll(num, &end, 10);
	if (*end != '\0' || errno == ERANGE || v > max)
		return -2;
	return v;
}

static int
text_of(const struct jfields_field *f, struct ndjson_text *out)
{
	out->s = NULL;
	out->n = 0;
	if (f->type == JF_NULL || f->type == JF_ABSENT)
		return 0;
	if (f->type != JF_STRING)
		return -1;
	out->s = f->str;
	out->n = f->len;
	return 0;
}

const char *
ndjson_ids_read(const struct jfields_field *f, struct ndjson_ids *out)
{
	const char *why = NULL;
	long long v;

	if (text_of(&f[I_MESSAGE_ID], &out->message_id) < 0)
		why = "message_id: not a string or null";
	if (text_of(&f[I_RECEIPT_HANDLE], &out->receipt_handle) < 0 &&
	    why == NULL)
		why = "receipt_handle: not a string or null";
	if ((v = count_of(&f[I_SENT_TIMESTAMP], NDJSON_MAX_SENT_MS)) < -1 &&
	    why == NULL)
		why = "sent_timestamp: not an integer from 0 to "
		    "253402300799999 (ms) or null";
	out->sent_timestamp = v < 0 ? -1 : v;
	if ((v = count_of(&f[I_RECEIVE_COUNT], NDJSON_MAX_RECEIVE_COUNT)) <
	    -1 && why == NULL)
		why = "receive_count: not an integer from 0 to 2147483647 or "
		    "null";
	out->receive_count = v < 0 ? -1 : (long)v;
	return why;
}

/* "message_id":...,"receipt_handle":..., what every kind begins its ids
 * with (an acknowledgement has nothing else). */
static void
handles_write(struct obuf *o, const struct ndjson_ids *ids)
{
	obuf_puts(o, "\"message_id\":");
	jsonw_string_or_null(o, ids->message_id.s, ids->message_id.n);
	obuf_puts(o, ",\"receipt_handle\":");
	jsonw_string_or_null(o, ids->receipt_handle.s, ids->receipt_handle.n);
}

/* ,"sent_timestamp":...,"receive_count":... */
static void
counts_write(struct obuf *o, const struct ndjson_ids *ids)
{
	obuf_puts(o, ",\"sent_timestamp\":");
	jsonw_count_or_null(o, ids->sent_timestamp);
	obuf_puts(o, ",\"receive_count\":");
	jsonw_count_or_null(o, ids->receive_count);
}

void
ndjson_ids_write(struct obuf *o, const struct ndjson_ids *ids)
{
	obuf_putc(o, ',');
	handles_write(o, ids);
	counts_write(o, ids);
}

void
ndjson_message_write(struct obuf *o, const struct ndjson_ids *ids,
    const char *body, size_t len)
{
	obuf_putc(o, '{');
	handles_write(o, ids);
	obuf_puts(o, ",\"body\":");
	jsonw_string(o, body, len);
	counts_write(o, ids);
	obuf_puts(o, "}\n");
}

void
ndjson_row_write(struct obuf *o, const struct ndjson_row *r,
    const struct ndjson_ids *ids)
{
	obuf_puts(o, "{\"row\":{\"user_id\":");
	jsonw_string(o, r->user_id.s, r->user_id.n);
	obuf_puts(o, ",\"device_type\":");
	jsonw_string_or_null(o, r->device_type.s, r->device_type.n);
	obuf_puts(o, ",\"masked_ip\":");
	jsonw_string_or_null(o, r->masked_ip.s, r->masked_ip.n);
	obuf_puts(o, ",\"masked_device_id\":");
	jsonw_string_or_null(o, r->masked_device_id.s, r->masked_device_id.n);
	obuf_puts(o, ",\"locale\":");
	jsonw_string_or_null(o, r->locale.s, r->locale.n);
	obuf_puts(o, ",\"app_version\":");
	if (r->has_app_version)
		obuf_putll(o, r->app_version);
	else
		obuf_puts(o, "null");
	obuf_puts(o, ",\"create_date\":\"");
	obuf_put(o, r->create_date, 10);
	obuf_puts(o, "\"}");
	ndjson_ids_write(o, ids);
	obuf_puts(o, "}\n");
}

void
ndjson_reject_write(struct obuf *o, const char *reason, size_t len,
    const struct ndjson_ids *ids, const struct ndjson_text *body)
{
	obuf_puts(o, "{\"reject\":");
	jsonw_string(o, reason, len);
	ndjson_ids_write(o, ids);
	if (body != NULL) {
		obuf_puts(o, ",\"body\":");
		jsonw_string_or_null(o, body->s, body->n);
	}
	obuf_puts(o, "}\n");
}

void
ndjson_ack_write(struct obuf *o, const struct ndjson_ids *ids)
{
	obuf_putc(o, '{');
	handles_write(o, ids);
	obuf_puts(o, "}\n");
}

/* A string field without NUL (non-empty when nonempty is set), or NULL. */
static struct ndjson_text
clean_text(const struct jfields_field *f, int nonempty)
{
	struct ndjson_text t = { NULL, 0 };

	if (f->type == JF_STRING && (!nonempty || f->len > 0) &&
	    memchr(f->str, '\0', f->len) == NULL) {
		t.s = f->str;
		t.n = f->len;
	}
	return t;
}

enum ndjson_ack_kind
ndjson_ack_read(struct jfields_parser *p, const char *line, size_t len,
    struct ndjson_ack *out)
{
	enum { K_MESSAGE_ID, K_RECEIPT_HANDLE, K_REJECT, K_BODY, K_COUNT };
	struct jfields_field f[K_COUNT] = {
		[K_MESSAGE_ID] = JF_FIELD("message_id"),
		[K_RECEIPT_HANDLE] = JF_FIELD("receipt_handle"),
		[K_REJECT] = JF_FIELD("reject"),
		[K_BODY] = JF_FIELD("body"),
	};

	memset(out, 0, sizeof(*out));
	if (jfields_parse(p, line, len, f, K_COUNT) != JF_OK)
		return NDJSON_UNUSABLE;
	out->message_id = clean_text(&f[K_MESSAGE_ID], 0);
	out->receipt_handle = clean_text(&f[K_RECEIPT_HANDLE], 1);
	if (f[K_REJECT].type != JF_ABSENT) {
		if (f[K_BODY].type == JF_STRING) {
			out->body.s = f[K_BODY].str;
			out->body.n = f[K_BODY].len;
		}
		return NDJSON_REJECT;
	}
	return out->receipt_handle.s != NULL ? NDJSON_ACK : NDJSON_UNUSABLE;
}
