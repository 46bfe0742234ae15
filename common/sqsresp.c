/*
 * sqsresp.c - SQS answers, JSON (yajl_tree) or XML (xml.h), into one
 * structure.  See sqsresp.h.
 */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "sqsresp.h"
#include "xml.h"

#define NONE ((size_t)-1)

/* Members of values that yajl_tree_get() has already type-checked. */
#define STR(v) ((v)->u.string)
#define ARR(v) (&(v)->u.array)

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

/* A non-negative decimal number, or -1 for anything else. */
static long long
number(const char *s)
{
	char *end;
	long long n;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	n = strtoll(s, &end, 10);
	return *end == '\0' && n >= 0 ? n : -1;
}

static long
count(const char *s)
{
	long long n = number(s);

	return n > 0x7fffffff ? -1 : (long)n;
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

/* The string at path in v, or NULL. */
static const char *
json_str(yajl_val v, const char *k1, const char *k2)
{
	const char *path[] = { k1, k2, NULL };

	v = yajl_tree_get(v, path, yajl_t_string);
	return v != NULL ? STR(v) : NULL;
}

static void
json_message(struct sqsresp *a, yajl_val v)
{
	struct sqsresp_message *m = &a->msgs[a->nmsgs];
	struct sqsresp_msg_at *at = &a->msg_at[a->nmsgs];
	const char *s;

	clear_msg(a, a->nmsgs);
	if ((s = json_str(v, "MessageId", NULL)) != NULL)
		at->id = keep_str(a, s);
	if ((s = json_str(v, "ReceiptHandle", NULL)) != NULL)
		at->rh = keep_str(a, s);
	if ((s = json_str(v, "Body", NULL)) != NULL) {
		m->body_len = strlen(s);
		at->body = keep(a, s, m->body_len);
	}
	if ((s = json_str(v, "MD5OfBody", NULL)) != NULL)
		at->md5 = keep_str(a, s);
	m->sent_timestamp = number(json_str(v, "Attributes", "SentTimestamp"));
	m->receive_count = count(json_str(v, "Attributes",
	    "ApproximateReceiveCount"));
	a->nmsgs++;
}

static void
json_entries(struct sqsresp *a, yajl_val tree, const char *key, int failed)
{
	const char *path[] = { key, NULL }, *s;
	const char *sender_fault[] = { "SenderFault", NULL };
	yajl_val list = yajl_tree_get(tree, path, yajl_t_array);

	for (size_t i = 0; list != NULL && i < ARR(list)->len &&
	    a->nents < SQSRESP_MAX; i++) {
		yajl_val e = ARR(list)->values[i];
		size_t k = a->nents++;

		clear_ent(a, k);
		a->ents[k].failed = failed;
		if ((s = json_str(e, "Id", NULL)) != NULL)
			a->ent_at[k].id = keep_str(a, s);
		if ((s = json_str(e, "Code", NULL)) != NULL)
			a->ent_at[k].code = keep_str(a, s);
		a->ents[k].sender_fault = yajl_tree_get(e, sender_fault,
		    yajl_t_true) != NULL;
	}
}

int
sqsresp_parse_json(struct sqsresp *a, const char *text)
{
	const char *path[] = { "Messages", NULL }, *s;
	yajl_val tree, list;

	reset(a);
	if ((tree = yajl_tree_parse(text, NULL, 0)) == NULL)
		return -1;
	if ((list = yajl_tree_get(tree, path, yajl_t_array)) != NULL)
		for (size_t i = 0; i < ARR(list)->len && a->nmsgs < SQSRESP_MAX;
		    i++)
			json_message(a, ARR(list)->values[i]);
	json_entries(a, tree, "Successful", 0);
	json_entries(a, tree, "Failed", 1);
	if ((s = json_str(tree, "__type", NULL)) != NULL)
		a->code_at = keep_str(a, short_code(s));
	if ((s = json_str(tree, "message", NULL)) != NULL ||
	    (s = json_str(tree, "Message", NULL)) != NULL)
		a->message_at = keep_str(a, s);
	if ((s = json_str(tree, "MD5OfMessageBody", NULL)) != NULL)
		a->md5_at = keep_str(a, s);
	yajl_tree_free(tree);
	return finish(a);
}

/* ---- XML ------------------------------------------------------------- */

/*
 * Messages and entries are read into slot nmsgs (nents) and counted when
 * their element ends; once SQSRESP_MAX are counted, that slot is the
 * scratch one past the end, overwritten by each further element.
 */
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
			m->sent_timestamp = number(text);
		else if (strcmp(an, "ApproximateReceiveCount") == 0)
			m->receive_count = count(text);
	} else if (strcmp(parent, "DeleteMessageBatchResultEntry") == 0 ||
	    strcmp(parent, "BatchResultErrorEntry") == 0) {
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
	} else if (strcmp(name, "DeleteMessageBatchResultEntry") == 0 ||
	    strcmp(name, "BatchResultErrorEntry") == 0) {
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
