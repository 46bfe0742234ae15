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

/* Writes the ids as the keys that end every line after sqs-recv:
 * ,"message_id":…,"receipt_handle":…,"sent_timestamp":…,"receive_count":…
 * (unknown ones as null). */
void ndjson_ids_write(struct obuf *o, const struct ndjson_ids *ids);

#endif
