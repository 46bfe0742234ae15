/*
 * ndjson.h - the lines between the stages: their limits, and the message
 * ids every kind of line after sqs-recv carries (docs/ndjson.md,
 * fetch-awards-ndjson(5)).
 *
 * One set of checks for the ids, shared by every reader, so that no stage
 * writes a line the next one refuses: pii-mask rejects an envelope whose
 * ids pg-load could not store, and pg-load turns a line it cannot use
 * into a reject with the same phrase.  Every phrase names the field and
 * the rule, never the value.
 */
#ifndef NDJSON_H
#define NDJSON_H

#include <stddef.h>

#include "jfields.h"
#include "obuf.h"

#define NDJSON_MAX_BODY (1024 * 1024)	/* bytes: the SQS message limit */
/* The longest line a stage accepts: a message line carrying a body of
 * NDJSON_MAX_BODY in which every byte needed a 6-byte \u escape. */
#define NDJSON_MAX_LINE (6 * NDJSON_MAX_BODY + 65536)
#define NDJSON_MAX_DEPTH 64		/* nesting accepted in a line */
#define NDJSON_MAX_SENT_MS 253402300799999LL	/* 9999-12-31T23:59:59.999Z */
#define NDJSON_MAX_RECEIVE_COUNT 2147483647L	/* a PostgreSQL integer */

/* A string value; NULL s is JSON null (or absent). */
struct ndjson_text {
	const char *s;
	size_t n;
};

/* What identifies a line's message (all may be unknown). */
struct ndjson_ids {
	struct ndjson_text message_id, receipt_handle;
	long long sent_timestamp;	/* ms since the epoch, -1 unknown */
	long receive_count;		/* -1 unknown */
};

/* All unknown: the ids of a line that has none. */
extern const struct ndjson_ids ndjson_no_ids;

/* The id fields, in this order, as an initializer for jfields fields. */
#define NDJSON_NIDS 4
#define NDJSON_ID_FIELDS						\
	JF_FIELD("message_id"), JF_FIELD("receipt_handle"),		\
	JF_FIELD("sent_timestamp"), JF_FIELD("receive_count")

/*
 * Reads the id fields f[0..NDJSON_NIDS) (NDJSON_ID_FIELDS, parsed):
 * strings or null, sent_timestamp an integer from 0 to NDJSON_MAX_SENT_MS
 * or null, receive_count an integer from 0 to NDJSON_MAX_RECEIVE_COUNT or
 * null.  Fills every valid field of *out (an invalid one is left
 * unknown) and returns NULL, or the phrase of the first invalid field.
 * Strings point into the parser, as jfields' do.
 */
const char *ndjson_ids_read(const struct jfields_field *f,
    struct ndjson_ids *out);

/* The columns of a row line (pii-mask's output), as written. */
struct ndjson_row {
	struct ndjson_text user_id, device_type, masked_ip, masked_device_id,
	    locale;
	int has_app_version;
	long app_version;
	const char *create_date;	/* "YYYY-MM-DD" (10 bytes) */
};

/*
 * The writers, one per line kind; each appends one whole line and its
 * newline.  Like every obuf writer they cannot fail visibly (o->oom).
 * Strings must be UTF-8 (they are written as JSON strings, escaped).
 *   1. a message line (sqs-recv): the ids, and the body as a string;
 *   3. a row line (pii-mask);
 *   4. a reject line (pii-mask, pg-load): the reason, the ids, and the
 *      raw body when body is not NULL (for a dead-letter queue);
 *   5. an acknowledgement (pg-load): message_id and receipt_handle.
 * The readers: pii-mask reads kinds 1 and 2 (the ids with
 * ndjson_ids_read(), login.h for the body), pg-load kinds 3 and 4
 * (rowline.h), sqs-ack kinds 1, 4 and 5 (ndjson_ack_read()).
 */
void ndjson_message_write(struct obuf *o, const struct ndjson_ids *ids,
    const char *body, size_t len);
void ndjson_row_write(struct obuf *o, const struct ndjson_row *r,
    const struct ndjson_ids *ids);
void ndjson_reject_write(struct obuf *o, const char *reason, size_t len,
    const struct ndjson_ids *ids, const struct ndjson_text *body);
void ndjson_ack_write(struct obuf *o, const struct ndjson_ids *ids);

/* What sqs-ack reads of a line (kinds 1, 4 and 5). */
enum ndjson_ack_kind {
	NDJSON_ACK,		/* delete the message: an acknowledgement, or a
				 * message line (sqs-recv | sqs-ack drains) */
	NDJSON_REJECT,		/* not stored: delete only once parked */
	NDJSON_UNUSABLE,	/* not JSON, or no usable receipt_handle */
};

struct ndjson_ack {
	struct ndjson_text message_id;	/* NULL unless a string without NUL */
	struct ndjson_text receipt_handle; /* non-empty, no NUL; NULL for a
					 * reject without one */
	struct ndjson_text body;	/* a reject's raw body, or NULL */
};

/* Reads a line for sqs-ack with p (made with jfields_init).  Strings
 * point into the parser, valid until its next parse. */
enum ndjson_ack_kind ndjson_ack_read(struct jfields_parser *p,
    const char *line, size_t len, struct ndjson_ack *out);

/* Writes the ids as the keys that end every line after sqs-recv:
 * ,"message_id":…,"receipt_handle":…,"sent_timestamp":…,"receive_count":…
 * (unknown ones as null). */
void ndjson_ids_write(struct obuf *o, const struct ndjson_ids *ids);

#endif
