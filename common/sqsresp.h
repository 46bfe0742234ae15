/*
 * sqsresp.h - an SQS answer, AWS JSON or Query/XML, parsed into one small
 * structure: the messages of a ReceiveMessage, the entries of a
 * DeleteMessageBatch, the MD5 a SendMessage reports, or an error.
 *
 * Only what the tools use is kept, and at most SQSRESP_MAX messages and
 * entries (a batch's limit); the rest of an answer is parsed, checked
 * and dropped.  A field missing from the answer is NULL (strings) or -1
 * (numbers), so a server that leaves something out is told apart from
 * one that sends it empty.
 *
 * Ownership: every string points into the structure's own buffer, is
 * NUL-terminated, and is valid until the next parse or sqsresp_free().
 * Zero-initialise a struct sqsresp before its first use.
 */
#ifndef SQSRESP_H
#define SQSRESP_H

#include <stddef.h>

#include "obuf.h"

#define SQSRESP_MAX 10

struct sqsresp_message {
	const char *message_id, *receipt_handle, *body, *md5_of_body;
	size_t body_len;
	long long sent_timestamp;	/* ms since the epoch */
	long receive_count;
};

struct sqsresp_entry {
	const char *id, *code;
	int failed;		/* from Failed / BatchResultErrorEntry */
	int sender_fault;
};

/* private: where a parse put each string in strs ((size_t)-1: absent);
 * strs moves as it grows, so the pointers are set when the parse ends. */
struct sqsresp_msg_at {
	size_t id, rh, body, md5;
};

struct sqsresp_ent_at {
	size_t id, code;
};

struct sqsresp {
	struct sqsresp_message msgs[SQSRESP_MAX + 1];
	size_t nmsgs;
	struct sqsresp_entry ents[SQSRESP_MAX + 1];
	size_t nents;
	const char *error_code;		/* short form: "QueueDoesNotExist" */
	const char *error_message;
	const char *md5_of_message_body;	/* SendMessage's */

	/* private */
	struct obuf strs;
	struct sqsresp_msg_at msg_at[SQSRESP_MAX + 1];	/* +1: the XML */
	struct sqsresp_ent_at ent_at[SQSRESP_MAX + 1];	/* one being read */
	size_t code_at, message_at, md5_at, attr_name_at;
};

/* Parses a JSON answer, text[0..len) (empty: as "{}").  Returns 0, or -1
 * when it is not JSON or memory ran out. */
int sqsresp_parse_json(struct sqsresp *a, const char *text, size_t len);

/* Parses a Query-protocol XML answer, text[0..len).  Returns 0, or -1
 * when it is not well-formed XML or memory ran out. */
int sqsresp_parse_xml(struct sqsresp *a, const char *text, size_t len);

void sqsresp_free(struct sqsresp *a);

#endif
