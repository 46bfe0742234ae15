/*
 * rowline.c - a pii-mask output line into a store row or a reject.  See
 * rowline.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "rowline.h"

enum { L_MESSAGE_ID, L_RECEIPT_HANDLE, L_SENT_TIMESTAMP, L_RECEIVE_COUNT,
    L_REJECT, L_ROW, L_USER_ID, L_DEVICE_TYPE, L_MASKED_IP,
    L_MASKED_DEVICE_ID, L_LOCALE, L_APP_VERSION, L_CREATE_DATE, L_COUNT };

/* A string field of a row: string, or null when allowed.  Returns 0. */
static int
text_of(const struct jfields_field *f, int nullable, size_t limit,
    struct ndjson_text *out)
{
	out->s = NULL;
	out->n = 0;
	if (f->type == JF_NULL || f->type == JF_ABSENT)
		return nullable ? 0 : -1;
	if (f->type != JF_STRING ||
	    login_check_text(f->str, f->len, limit) != NULL)
		return -1;
	out->s = f->str;
	out->n = f->len;
	return 0;
}

/* A calendar date written YYYY-MM-DD, years 1 to 9999. */
static int
date_of(const struct jfields_field *f, struct store_row *r)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	const char *s = f->str;
	int y, m, d, leap;

	if (f->type == JF_NULL || f->type == JF_ABSENT)
		return 0;
	if (f->type != JF_STRING || f->len != 10 || s[4] != '-' ||
	    s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap))
		return -1;
	r->has_create_date = 1;
	r->create_year = y;
	r->create_month = m;
	r->create_day = d;
	return 0;
}

/* An integer field within [min, max], or null; -1 for anything else. */
static int
integer_of(const struct jfields_field *f, long long min, long long max,
    long long *out, int *present)
{
	char num[24], *end;

	*present = 0;
	if (f->type == JF_NULL || f->type == JF_ABSENT)
		return 0;
	if (f->type != JF_NUMBER || f->len >= sizeof(num))
		return -1;
	memcpy(num, f->str, f->len);
	num[f->len] = '\0';
	errno = 0;
	*out = strtoll(num, &end, 10);
	if (*end != '\0' || errno == ERANGE || *out < min || *out > max)
		return -1;
	*present = 1;
	return 0;
}

/* Turns a row line's fields into a store row.  Returns NULL, or the
 * phrase of the first field that does not fit its column. */
static const char *
row_of(struct jfields_field *f, struct store_row *r)
{
	long long v = 0;

	memset(&r->user_id, 0, sizeof(*r) - offsetof(struct store_row,
	    user_id));
	if (text_of(&f[L_USER_ID], 0, LOGIN_MAX_USER_ID, &r->user_id) < 0)
		return "row.user_id: not a string of 1 to 128 characters";
	if (text_of(&f[L_DEVICE_TYPE], 1, LOGIN_MAX_SHORT, &r->device_type) < 0)
		return "row.device_type: not null or a string of 1 to 32 "
		    "characters";
	if (text_of(&f[L_MASKED_IP], 1, LOGIN_MAX_MASK, &r->masked_ip) < 0)
		return "row.masked_ip: not null or a string of 1 to 256 "
		    "characters";
	if (text_of(&f[L_MASKED_DEVICE_ID], 1, LOGIN_MAX_MASK,
	    &r->masked_device_id) < 0)
		return "row.masked_device_id: not null or a string of 1 to 256 "
		    "characters";
	if (text_of(&f[L_LOCALE], 1, LOGIN_MAX_SHORT, &r->locale) < 0)
		return "row.locale: not null or a string of 1 to 32 characters";
	if (date_of(&f[L_CREATE_DATE], r) < 0)
		return "row.create_date: not null or a date YYYY-MM-DD";
	if (integer_of(&f[L_APP_VERSION], -2147483647LL - 1, 2147483647LL, &v,
	    &r->has_app_version) < 0)
		return "row.app_version: not null or a 32-bit integer";
	r->app_version = (long)v;
	return NULL;
}

enum rowline_kind
rowline_parse(struct jfields_parser *p, const char *line, size_t len,
    struct rowline *out)
{
	struct jfields_field f[L_COUNT] = {
		NDJSON_ID_FIELDS,	/* L_MESSAGE_ID .. L_RECEIVE_COUNT */
		[L_REJECT] = JF_FIELD("reject"),
		[L_ROW] = JF_FIELD("row"),
		[L_USER_ID] = JF_CHILD("row", "user_id"),
		[L_DEVICE_TYPE] = JF_CHILD("row", "device_type"),
		[L_MASKED_IP] = JF_CHILD("row", "masked_ip"),
		[L_MASKED_DEVICE_ID] = JF_CHILD("row", "masked_device_id"),
		[L_LOCALE] = JF_CHILD("row", "locale"),
		[L_APP_VERSION] = JF_CHILD("row", "app_version"),
		[L_CREATE_DATE] = JF_CHILD("row", "create_date"),
	};

	enum jfields_error e;

	out->reason = NULL;
	out->reason_len = 0;
	out->why = NULL;
	memset(&out->row, 0, sizeof(out->row));
	out->row.ids.sent_timestamp = -1;
	out->row.ids.receive_count = -1;
	if ((e = jfields_parse(p, line, len, f, L_COUNT)) != JF_OK) {
		out->why = jfields_strerror(e);	/* pii-mask's phrases */
		return ROWLINE_EJSON;
	}
	/* Whatever else is wrong, the valid ids are kept, so that the
	 * message is recorded and its reject passed on. */
	out->why = ndjson_ids_read(f, &out->row.ids);
	if (f[L_REJECT].type == JF_STRING) {
		if (out->why != NULL)
			return ROWLINE_EREJECT;
		out->reason = f[L_REJECT].str;
		out->reason_len = f[L_REJECT].len;
		return ROWLINE_REJECT;
	}
	if (out->why != NULL)
		return ROWLINE_EROW;
	if (f[L_ROW].type != JF_OBJECT) {
		out->why = "line: neither a row nor a reject";
		return ROWLINE_EROW;
	}
	if ((out->why = row_of(f, &out->row)) != NULL)
		return ROWLINE_EROW;
	return ROWLINE_ROW;
}
