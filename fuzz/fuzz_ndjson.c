/*
 * fuzz_ndjson.c - libFuzzer: the line contract as a round trip.  The
 * input is cut into ids and values; each line kind is written with
 * ndjson.h's writer and read back with the reader of the stage that
 * takes it.  A finding is a line one stage writes that the next refuses
 * or reads differently: that would drop or corrupt a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "ndjson.h"
#include "rowline.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_MID, F_RH, F_TEXT, F_USER, F_TYPE, F_LOCALE, F_IP, F_DEV, F_N };

static struct jfields_parser parser;

static int
ready_parser(void)
{
	static int ready;

	if (!ready) {
		jfields_init(&parser, NDJSON_MAX_DEPTH, 0);
		ready = 1;
	}
	return 1;
}

static int
same(const struct ndjson_text *a, const char *s, size_t n)
{
	if (a->s == NULL)
		return s == NULL;
	return s != NULL && a->n == n && memcmp(a->s, s, n) == 0;
}

static void
same_ids(const struct ndjson_ids *w, const struct ndjson_ids *r)
{
	if (!same(&w->message_id, r->message_id.s, r->message_id.n) ||
	    !same(&w->receipt_handle, r->receipt_handle.s,
	    r->receipt_handle.n) || w->sent_timestamp != r->sent_timestamp ||
	    w->receive_count != r->receive_count)
		abort();
}

/* A nullable column text for a row: valid when within its limit. */
static int
column_ok(const struct ndjson_text *t, size_t limit, int nullable)
{
	if (t->s == NULL)
		return nullable;
	return login_check_text(t->s, t->n, limit) == NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ndjson_text f[F_N] = { { NULL, 0 } };
	struct ndjson_ids ids;
	struct obuf o = { .len = 0 };
	uint64_t a = 0, b = 0;
	unsigned flags;
	size_t k = 0;
	char date[11];

	if (size < 17)
		return 0;
	memcpy(&a, data, 8);
	memcpy(&b, data + 8, 8);
	flags = data[16];
	data += 17;
	size -= 17;
	/* The rest: the texts, separated by 0xff (never in UTF-8). */
	for (size_t i = 0, start = 0; i <= size && k < F_N; i++)
		if (i == size || data[i] == 0xff) {
			f[k].s = (const char *)data + start;
			f[k].n = i - start;
			if (!utf8_valid(f[k].s, f[k].n))
				return 0;
			if (flags & (1u << (k % 8)) && k != F_TEXT &&
			    k != F_USER)
				f[k].s = NULL, f[k].n = 0;	/* null */
			k++;
			start = i + 1;
		}
	if (k < F_N)
		return 0;
	if (!ready_parser())
		return 0;
	ids.message_id = f[F_MID];
	ids.receipt_handle = f[F_RH];
	ids.sent_timestamp = (long long)(a % (NDJSON_MAX_SENT_MS + 2)) - 1;
	ids.receive_count = (long)(b % (NDJSON_MAX_RECEIVE_COUNT + 2UL)) - 1;

	/* 4. a reject, with the body or not */
	{
		struct rowline l;
		struct ndjson_text body = f[F_USER];

		obuf_clear(&o);
		ndjson_reject_write(&o, f[F_TEXT].s, f[F_TEXT].n, &ids,
		    flags & 0x80 ? &body : NULL);
		if (o.oom)
			abort();
		if (rowline_parse(&parser, o.p, o.len - 1, &l) != ROWLINE_REJECT ||
		    !same(&f[F_TEXT], l.reason, l.reason_len))
			abort();
		same_ids(&ids, &l.row.ids);
	}
	/* 3. a row, when its values are a valid row */
	{
		struct ndjson_row r = {
			.user_id = f[F_USER], .device_type = f[F_TYPE],
			.locale = f[F_LOCALE], .masked_ip = f[F_IP],
			.masked_device_id = f[F_DEV],
			.has_app_version = (flags & 0x40) != 0,
			.app_version = (long)(int32_t)(a >> 17),
			.create_date = date,
		};
		struct rowline l;
		int y = (int)(b % 9999) + 1, m = (int)(a % 12) + 1,
		    d = (int)(b % 28) + 1;

		date[0] = (char)('0' + y / 1000);
		date[1] = (char)('0' + y / 100 % 10);
		date[2] = (char)('0' + y / 10 % 10);
		date[3] = (char)('0' + y % 10);
		date[4] = '-';
		date[5] = (char)('0' + m / 10);
		date[6] = (char)('0' + m % 10);
		date[7] = '-';
		date[8] = (char)('0' + d / 10);
		date[9] = (char)('0' + d % 10);
		date[10] = '\0';
		if (column_ok(&r.user_id, LOGIN_MAX_USER_ID, 0) &&
		    column_ok(&r.device_type, LOGIN_MAX_SHORT, 1) &&
		    column_ok(&r.locale, LOGIN_MAX_SHORT, 1) &&
		    column_ok(&r.masked_ip, LOGIN_MAX_MASK, 1) &&
		    column_ok(&r.masked_device_id, LOGIN_MAX_MASK, 1)) {
			const struct store_row *g = &l.row;

			obuf_clear(&o);
			ndjson_row_write(&o, &r, &ids);
			if (rowline_parse(&parser, o.p, o.len - 1, &l) !=
			    ROWLINE_ROW)
				abort();
			same_ids(&ids, &g->ids);
			if (!same(&r.user_id, g->user_id.s, g->user_id.n) ||
			    !same(&r.device_type, g->device_type.s,
			    g->device_type.n) ||
			    !same(&r.locale, g->locale.s, g->locale.n) ||
			    !same(&r.masked_ip, g->masked_ip.s, g->masked_ip.n) ||
			    !same(&r.masked_device_id, g->masked_device_id.s,
			    g->masked_device_id.n) ||
			    g->has_app_version != r.has_app_version ||
			    (r.has_app_version && g->app_version !=
			    r.app_version) || !g->has_create_date ||
			    g->create_year != y || g->create_month != m ||
			    g->create_day != d)
				abort();
		}
	}
	/* 1. a message line, as pii-mask and sqs-ack read it */
	{
		struct jfields_field mf[NDJSON_NIDS + 1] = {
			NDJSON_ID_FIELDS, JF_FIELD("body"),
		};
		struct ndjson_ids got;

		obuf_clear(&o);
		ndjson_message_write(&o, &ids, f[F_TEXT].s, f[F_TEXT].n);
		if (jfields_parse(&parser, o.p, o.len - 1, mf,
		    NDJSON_NIDS + 1) != JF_OK ||
		    ndjson_ids_read(mf, &got) != NULL ||
		    mf[NDJSON_NIDS].type != JF_STRING ||
		    !same(&f[F_TEXT], mf[NDJSON_NIDS].str, mf[NDJSON_NIDS].len))
			abort();
		same_ids(&ids, &got);
	}
	/* 5. an acknowledgement, and kinds 1 and 4, as sqs-ack reads them:
	 * what it deletes is exactly what was written to be deleted */
	{
		struct ndjson_text rh = ids.receipt_handle;
		int usable = rh.s != NULL && rh.n > 0 &&
		    memchr(rh.s, '\0', rh.n) == NULL;
		struct ndjson_ack got;
		enum ndjson_ack_kind want = usable ? NDJSON_ACK :
		    NDJSON_UNUSABLE;

		obuf_clear(&o);
		ndjson_ack_write(&o, &ids);
		if (ndjson_ack_read(&parser, o.p, o.len - 1, &got) != want ||
		    (usable && !same(&rh, got.receipt_handle.s,
		    got.receipt_handle.n)))
			abort();
		obuf_clear(&o);
		ndjson_message_write(&o, &ids, f[F_TEXT].s, f[F_TEXT].n);
		if (ndjson_ack_read(&parser, o.p, o.len - 1, &got) != want)
			abort();
		obuf_clear(&o);
		ndjson_reject_write(&o, f[F_TEXT].s, f[F_TEXT].n, &ids,
		    &f[F_USER]);
		if (ndjson_ack_read(&parser, o.p, o.len - 1, &got) !=
		    NDJSON_REJECT || !same(&f[F_USER], got.body.s, got.body.n) ||
		    (usable && !same(&rh, got.receipt_handle.s,
		    got.receipt_handle.n)))
			abort();
	}
	obuf_free(&o);
	return 0;
}
