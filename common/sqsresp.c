/*
 * sqsresp.c - SQS answers, JSON (yajl's callbacks) or XML (xml.h), into
 * one structure.  See sqsresp.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "sqsresp.h"
#include "xml.h"

#define NONE ((size_t)-1)


static const struct sqsresp_msg_at no_msg_at = { NONE, NONE, NONE, NONE };
static const struct sqsresp_ent_at no_ent_at = { NONE, NONE };

/* Copies s[0..n) into strs, NUL-terminated; returns its offset. */
static size_t
keep(struct sqsresp *a, const char *s, size_t n)
{
	size_t off = a->strs.len;

	obuf_put(&a->strs, s, n);
	obuf_putc(&a->strs, '\0');
	return off;
}

static size_t
keep_str(struct sqsresp *a, const char *s)
{
	return keep(a, s, strlen(s));
}

/* Empties slot i of the messages (i may be the scratch slot). */
static void
clear_msg(struct sqsresp *a, size_t i)
{
	a->msgs[i] = (struct sqsresp_message){ .sent_timestamp = -1,
	    .receive_count = -1 };
	a->msg_at[i] = no_msg_at;
}

static void
clear_ent(struct sqsresp *a, size_t i)
{
	a->ents[i] = (struct sqsresp_entry){ 0 };
	a->ent_at[i] = no_ent_at;
}

static void
reset(struct sqsresp *a)
{
	obuf_clear(&a->strs);
	a->nmsgs = a->nents = 0;
	clear_msg(a, 0);
	clear_ent(a, 0);
	a->error_code = a->error_message = a->md5_of_message_body = NULL;
	a->code_at = a->message_at = a->md5_at = a->attr_name_at = NONE;
}

static const char *
str_at(const struct sqsresp *a, size_t off)
{
	return off == NONE ? NULL : a->strs.p + off;
}

/* Points every string at its place, now that strs has stopped moving.
 * Returns 0, or -1 when memory ran out on the way. */
static int
finish(struct sqsresp *a)
{
	if (a->strs.oom)
		return -1;
	for (size_t i = 0; i < a->nmsgs; i++) {
		struct sqsresp_message *m = &a->msgs[i];
		const struct sqsresp_msg_at *at = &a->msg_at[i];

		m->message_id = str_at(a, at->id);
		m->receipt_handle = str_at(a, at->rh);
		m->body = str_at(a, at->body);
		m->md5_of_body = str_at(a, at->md5);
	}
	for (size_t i = 0; i < a->nents; i++) {
		a->ents[i].id = str_at(a, a->ent_at[i].id);
		a->ents[i].code = str_at(a, a->ent_at[i].code);
	}
	a->error_code = str_at(a, a->code_at);
	a->error_message = str_at(a, a->message_at);
	a->md5_of_message_body = str_at(a, a->md5_at);
	return 0;
}

/* A number written as text ("1700000000123"): its digits' value, or -1
 * when it is not all digits or does not fit. */
static long long
number(const char *s, size_t n)
{
	long long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (LLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* A receive count: a number that fits a long on every platform, or -1. */
static long
count(const char *s, size_t n)
{
	long long v = number(s, n);

	return v > 0x7fffffff ? -1 : (long)v;
}

/* The short name of an error code: "com.amazonaws.sqs#X" and
 * "AWS.SimpleQueueService.X" both give X. */
static const char *
short_code(const char *code)
{
	const char *p;

	if ((p = strrchr(code, '#')) != NULL)
		return p + 1;
	if (strncmp(code, "AWS.SimpleQueueService.", 23) == 0)
		return code + 23;
	return code;
}

/* ---- JSON ------------------------------------------------------------ */

/*
 * One streaming pass (yajl callbacks, no tree): the answer's few fields
 * are found by where they are.  Depth 1 is the top object; its arrays
 * Messages, Successful and Failed are depth 2; each object in them is a
 * message or entry at depth 3; a message's Attributes object is depth 4.
 * A field of the wrong type is left out, a repeated key is ignored (the
 * first one counts, whatever its type), and an array element that is not
 * an object counts as a message or entry with nothing in it.
 */
enum jkey { K_OTHER, K_MESSAGES, K_SUCCESSFUL, K_FAILED, K_TYPE, K_MESSAGE_LC,
    K_MESSAGE_UC, K_MD5_OF_MESSAGE_BODY, K_MESSAGE_ID, K_RECEIPT_HANDLE,
    K_BODY, K_MD5_OF_BODY, K_ATTRIBUTES, K_ID, K_CODE, K_SENDER_FAULT,
    K_SENT_TIMESTAMP, K_RECEIVE_COUNT };

#define JKEY(name, key) { name, sizeof(name) - 1, key }
static const struct {
	const char *name;
	size_t len;
	enum jkey key;
} jkeys[] = {
	JKEY("Messages", K_MESSAGES), JKEY("Successful", K_SUCCESSFUL),
	JKEY("Failed", K_FAILED), JKEY("__type", K_TYPE),
	JKEY("message", K_MESSAGE_LC), JKEY("Message", K_MESSAGE_UC),
	JKEY("MD5OfMessageBody", K_MD5_OF_MESSAGE_BODY),
	JKEY("MessageId", K_MESSAGE_ID), JKEY("ReceiptHandle", K_RECEIPT_HANDLE),
	JKEY("Body", K_BODY), JKEY("MD5OfBody", K_MD5_OF_BODY),
	JKEY("Attributes", K_ATTRIBUTES), JKEY("Id", K_ID), JKEY("Code", K_CODE),
	JKEY("SenderFault", K_SENDER_FAULT),
	JKEY("SentTimestamp", K_SENT_TIMESTAMP),
	JKEY("ApproximateReceiveCount", K_RECEIVE_COUNT),
};

struct jwalk {
	struct sqsresp *a;
	unsigned depth;
	enum jkey key[5];	/* the last key seen at depths 1 to 4 */
	char type[5];		/* 'o' or 'a': the container at each depth */
	unsigned long seen[5];	/* keys met in the object at each depth */
	enum jkey list;		/* the depth-2 array being read, or K_OTHER */
	int item;		/* the depth-3 object is a message or entry */
	int attrs;		/* the depth-4 object is a message's Attributes */
	size_t message_uc_at;	/* "Message", used when "message" is absent */
};

static enum jkey
jkey_of(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(jkeys) / sizeof(jkeys[0]); i++)
		if (jkeys[i].len == n && memcmp(jkeys[i].name, s, n) == 0)
			return jkeys[i].key;
	return K_OTHER;
}

/* Counts an element of a list that is not an object: an empty item. */
static int
blank_item(struct jwalk *w)
{
	struct sqsresp *a = w->a;

	if (w->list == K_MESSAGES) {
		clear_msg(a, a->nmsgs);
		if (a->nmsgs < SQSRESP_MAX)
			a->nmsgs++;
	} else {
		clear_ent(a, a->nents);
		a->ents[a->nents].failed = w->list == K_FAILED;
		if (a->nents < SQSRESP_MAX)
			a->nents++;
	}
	return 1;
}

static int
on_jscalar(void *ctx)
{
	struct jwalk *w = ctx;

	return w->depth == 2 && w->list != K_OTHER ? blank_item(w) : 1;
}

static int
on_jnumber(void *ctx, const char *s, size_t n)
{
	(void)s, (void)n;
	return on_jscalar(ctx);
}

static int
on_jstring(void *ctx, const unsigned char *s, size_t n)
{
	struct jwalk *w = ctx;
	struct sqsresp *a = w->a;

	if (w->depth == 2 && w->list != K_OTHER)
		return blank_item(w);
	if (w->depth == 1 && w->type[1] == 'o') {
		switch (w->key[1]) {
		case K_TYPE: {
			size_t at = keep(a, (const char *)s, n);

			/* Its short form: a suffix of the copy. */
			if (!a->strs.oom)
				a->code_at = at + (size_t)(short_code(a->strs.p +
				    at) - (a->strs.p + at));
			break;
		}
		case K_MESSAGE_LC:
			a->message_at = keep(a, (const char *)s, n);
			break;
		case K_MESSAGE_UC:
			w->message_uc_at = keep(a, (const char *)s, n);
			break;
		case K_MD5_OF_MESSAGE_BODY:
			a->md5_at = keep(a, (const char *)s, n);
			break;
		default:
			break;
		}
	} else if (w->depth == 3 && w->item && w->list == K_MESSAGES) {
		struct sqsresp_msg_at *at = &a->msg_at[a->nmsgs];

		switch (w->key[3]) {
		case K_MESSAGE_ID:
			at->id = keep(a, (const char *)s, n);
			break;
		case K_RECEIPT_HANDLE:
			at->rh = keep(a, (const char *)s, n);
			break;
		case K_BODY:
			a->msgs[a->nmsgs].body_len = n;
			at->body = keep(a, (const char *)s, n);
			break;
		case K_MD5_OF_BODY:
			at->md5 = keep(a, (const char *)s, n);
			break;
		default:
			break;
		}
	} else if (w->depth == 3 && w->item) {
		struct sqsresp_ent_at *at = &a->ent_at[a->nents];

		if (w->key[3] == K_ID)
			at->id = keep(a, (const char *)s, n);
		else if (w->key[3] == K_CODE)
			at->code = keep(a, (const char *)s, n);
	} else if (w->depth == 4 && w->attrs) {
		struct sqsresp_message *m = &a->msgs[a->nmsgs];

		if (w->key[4] == K_SENT_TIMESTAMP)
			m->sent_timestamp = number((const char *)s, n);
		else if (w->key[4] == K_RECEIVE_COUNT)
			m->receive_count = count((const char *)s, n);
	}
	return !a->strs.oom;
}

static int
on_jbool(void *ctx, int b)
{
	struct jwalk *w = ctx;

	if (w->depth == 2 && w->list != K_OTHER)
		return blank_item(w);
	if (w->depth == 3 && w->item && w->list != K_MESSAGES &&
	    w->key[3] == K_SENDER_FAULT && b)
		w->a->ents[w->a->nents].sender_fault = 1;
	return 1;
}

static int
on_jkey(void *ctx, const unsigned char *s, size_t n)
{
	struct jwalk *w = ctx;

	enum jkey k;

	if (w->depth == 1 || (w->depth == 3 && w->item) ||
	    (w->depth == 4 && w->attrs)) {
		/* Only a key's first occurrence counts, whatever its value. */
		k = jkey_of(s, n);
		if (w->seen[w->depth] & (1UL << k))
			k = K_OTHER;
		w->seen[w->depth] |= 1UL << k;
		w->key[w->depth] = k;
	}
	return 1;
}

static int
open_container(struct jwalk *w, char type)
{
	struct sqsresp *a = w->a;

	w->depth++;
	if (w->depth <= 4) {
		w->type[w->depth] = type;
		w->seen[w->depth] = 0;
		if (w->depth < 4)
			w->key[w->depth + 1] = K_OTHER;
	}
	if (w->depth == 2 && type == 'a' && w->type[1] == 'o' &&
	    (w->key[1] == K_MESSAGES || w->key[1] == K_SUCCESSFUL ||
	    w->key[1] == K_FAILED))
		w->list = w->key[1];
	else if (w->depth == 3 && type == 'o' && w->list != K_OTHER) {
		/* A message or entry: read into slot n, counted at its end
		 * (once SQSRESP_MAX are counted, slot n is the scratch one). */
		w->item = 1;
		w->key[3] = K_OTHER;
		if (w->list == K_MESSAGES)
			clear_msg(a, a->nmsgs);
		else {
			clear_ent(a, a->nents);
			a->ents[a->nents].failed = w->list == K_FAILED;
		}
	} else if (w->depth == 4 && type == 'o' && w->item &&
	    w->list == K_MESSAGES && w->key[3] == K_ATTRIBUTES)
		w->attrs = 1;
	return 1;
}

static int
on_jstart_map(void *ctx)
{
	return open_container(ctx, 'o');
}

static int
on_jstart_array(void *ctx)
{
	return open_container(ctx, 'a');
}

static int
on_jend(void *ctx)
{
	struct jwalk *w = ctx;
	struct sqsresp *a = w->a;

	if (w->depth == 4)
		w->attrs = 0;
	else if (w->depth == 3 && w->item) {
		w->item = 0;
		if (w->list == K_MESSAGES && a->nmsgs < SQSRESP_MAX)
			a->nmsgs++;
		else if (w->list != K_MESSAGES && a->nents < SQSRESP_MAX)
			a->nents++;
	} else if (w->depth == 3 && w->list != K_OTHER)
		blank_item(w);		/* an array in the list */
	else if (w->depth == 2)
		w->list = K_OTHER;
	w->depth--;
	return 1;
}

static const yajl_callbacks jcallbacks = {
	.yajl_null = on_jscalar,
	.yajl_number = on_jnumber,
	.yajl_string = on_jstring,
	.yajl_boolean = on_jbool,
	.yajl_map_key = on_jkey,
	.yajl_start_map = on_jstart_map,
	.yajl_end_map = on_jend,
	.yajl_start_array = on_jstart_array,
	.yajl_end_array = on_jend,
};

int
sqsresp_parse_json(struct sqsresp *a, const char *text, size_t len)
{
	struct jwalk w = { .a = a, .list = K_OTHER, .message_uc_at = NONE };
	yajl_handle h;
	yajl_status st;

	reset(a);
	if (len == 0) {
		text = "{}";	/* an answer with no body says nothing */
		len = 2;
	}
	if ((h = yajl_alloc(&jcallbacks, NULL, &w)) == NULL)
		return -1;
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (st != yajl_status_ok)
		return -1;
	if (a->message_at == NONE)
		a->message_at = w.message_uc_at;
	return finish(a);
}

/* ---- XML ------------------------------------------------------------- */

/*
 * Messages and entries are read into slot nmsgs (nents) and counted when
 * their element ends; once SQSRESP_MAX are counted, that slot is the
 * scratch one past the end, overwritten by each further element.
 */
/* An entry of a batch's answer: done, or failed (BatchResultErrorEntry). */
static int
is_entry(const char *name)
{
	return strcmp(name, "DeleteMessageBatchResultEntry") == 0 ||
	    strcmp(name, "ChangeMessageVisibilityBatchResultEntry") == 0 ||
	    strcmp(name, "BatchResultErrorEntry") == 0;
}

static void
xml_leaf(void *ctx, const char *parent, const char *name, const char *text,
    size_t len)
{
	struct sqsresp *a = ctx;
	struct sqsresp_message *m = &a->msgs[a->nmsgs];
	struct sqsresp_msg_at *mat = &a->msg_at[a->nmsgs];

	if (strcmp(parent, "Message") == 0) {
		if (strcmp(name, "MessageId") == 0)
			mat->id = keep(a, text, len);
		else if (strcmp(name, "ReceiptHandle") == 0)
			mat->rh = keep(a, text, len);
		else if (strcmp(name, "Body") == 0) {
			mat->body = keep(a, text, len);
			m->body_len = len;
		} else if (strcmp(name, "MD5OfBody") == 0)
			mat->md5 = keep(a, text, len);
	} else if (strcmp(parent, "Attribute") == 0) {
		const char *an = str_at(a, a->attr_name_at);

		if (strcmp(name, "Name") == 0)
			a->attr_name_at = keep(a, text, len);
		else if (strcmp(name, "Value") != 0 || an == NULL)
			;
		else if (strcmp(an, "SentTimestamp") == 0)
			m->sent_timestamp = number(text, len);
		else if (strcmp(an, "ApproximateReceiveCount") == 0)
			m->receive_count = count(text, len);
	} else if (is_entry(parent)) {
		if (strcmp(name, "Id") == 0)
			a->ent_at[a->nents].id = keep(a, text, len);
		else if (strcmp(name, "Code") == 0)
			a->ent_at[a->nents].code = keep(a, text, len);
		else if (strcmp(name, "SenderFault") == 0)
			a->ents[a->nents].sender_fault =
			    strcmp(text, "true") == 0;
	} else if (strcmp(parent, "Error") == 0) {
		if (strcmp(name, "Code") == 0)
			a->code_at = keep_str(a, short_code(text));
		else if (strcmp(name, "Message") == 0)
			a->message_at = keep(a, text, len);
	} else if (strcmp(name, "MD5OfMessageBody") == 0)
		a->md5_at = keep(a, text, len);
}

static void
xml_end(void *ctx, const char *name)
{
	struct sqsresp *a = ctx;

	if (strcmp(name, "Message") == 0) {
		if (a->nmsgs < SQSRESP_MAX)
			a->nmsgs++;
		clear_msg(a, a->nmsgs);
	} else if (is_entry(name)) {
		a->ents[a->nents].failed = name[0] == 'B';
		if (a->nents < SQSRESP_MAX)
			a->nents++;
		clear_ent(a, a->nents);
	}
}

int
sqsresp_parse_xml(struct sqsresp *a, const char *text, size_t len)
{
	static const struct xml_handler h = { xml_leaf, xml_end };

	reset(a);
	if (xml_walk(text, len, &h, a) < 0)
		return -1;
	return finish(a);
}

void
sqsresp_free(struct sqsresp *a)
{
	obuf_free(&a->strs);
	a->nmsgs = a->nents = 0;
}
