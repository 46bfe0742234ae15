/*
 * reveal.c - pii-mask --reveal: siv masks turned back into the values.
 * See reveal.h.
 */
#include <string.h>

#include "jsonw.h"
#include "login.h"
#include "reveal.h"

struct reveal {
	struct mask_key *key;
	const char *key_id;	/* NULL: masks without an id */
};

/* Appends a field's string, or null. */
static void
string_or_null(struct obuf *o, const struct jfields_field *f)
{
	if (f->type == JF_STRING)
		jsonw_string(o, f->str, f->len);
	else
		obuf_puts(o, "null");
}

/*
 * Recovers the value of a siv mask "[ID:]base64url" into buf.  Returns
 * its length, or -1 when it is not a mask of this key (or of this key id,
 * when one was given).
 */
static long
unmask(const struct reveal *r, const char *s, size_t n, char *buf, size_t cap)
{
	const char *colon = memchr(s, ':', n);

	if (colon != NULL) {
		size_t idlen = (size_t)(colon - s);

		if (r->key_id != NULL && (strlen(r->key_id) != idlen ||
		    memcmp(r->key_id, s, idlen) != 0))
			return -1;
		n -= idlen + 1;
		s = colon + 1;
	} else if (r->key_id != NULL)
		return -1;
	return mask_unsiv(r->key, s, n, buf, cap);
}

/* Writes the original of a masked column, or counts a failure. */
static int
reveal_field(const struct reveal *r, struct obuf *o, const char *name,
    const struct jfields_field *f)
{
	char buf[LOGIN_MAX_MASK];
	long n;

	obuf_puts(o, name);
	if (f->type != JF_STRING) {
		obuf_puts(o, "null");
		return f->type == JF_NULL || f->type == JF_ABSENT ? 0 : -1;
	}
	if ((n = unmask(r, f->str, f->len, buf, sizeof(buf))) < 0) {
		obuf_puts(o, "null");
		return -1;
	}
	jsonw_string(o, buf, (size_t)n);
	return 0;
}

int
reveal_line(struct mask_key *key, const char *key_id, struct jfields_parser *p,
    struct obuf *o, const char *line, size_t len)
{
	enum { R_ROW, R_USER_ID, R_DEVICE_TYPE, R_IP, R_DEVICE_ID, R_LOCALE,
	    R_APP_VERSION, R_CREATE_DATE, R_MESSAGE_ID, R_RECEIPT_HANDLE,
	    R_COUNT };
	struct jfields_field f[R_COUNT] = {
		[R_ROW] = JF_FIELD("row"),
		[R_USER_ID] = JF_CHILD("row", "user_id"),
		[R_DEVICE_TYPE] = JF_CHILD("row", "device_type"),
		[R_IP] = JF_CHILD("row", "masked_ip"),
		[R_DEVICE_ID] = JF_CHILD("row", "masked_device_id"),
		[R_LOCALE] = JF_CHILD("row", "locale"),
		[R_APP_VERSION] = JF_CHILD("row", "app_version"),
		[R_CREATE_DATE] = JF_CHILD("row", "create_date"),
		[R_MESSAGE_ID] = JF_FIELD("message_id"),
		[R_RECEIPT_HANDLE] = JF_FIELD("receipt_handle"),
	};
	const struct reveal r = { key, key_id };
	int bad = 0;
	enum jfields_error e = jfields_parse(p, line, len, f, R_COUNT);

	if (e == JF_OK && f[R_ROW].type != JF_OBJECT) {
		obuf_put(o, line, len);
		obuf_putc(o, '\n');
		return 0;
	}
	if (e != JF_OK) {
		char buf[LOGIN_MAX_MASK];
		long n;

		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
			len--;
		if ((n = unmask(&r, line, len, buf, sizeof(buf))) < 0) {
			obuf_puts(o, "null\n");
			return -1;
		}
		jsonw_string(o, buf, (size_t)n);
		obuf_putc(o, '\n');
		return 0;
	}
	obuf_puts(o, "{\"row\":{\"user_id\":");
	jsonw_string_or_null(o, f[R_USER_ID].type == JF_STRING ?
	    f[R_USER_ID].str : NULL, f[R_USER_ID].len);
	obuf_puts(o, ",\"device_type\":");
	jsonw_string_or_null(o, f[R_DEVICE_TYPE].type == JF_STRING ?
	    f[R_DEVICE_TYPE].str : NULL, f[R_DEVICE_TYPE].len);
	bad |= reveal_field(&r, o, ",\"ip\":", &f[R_IP]);
	bad |= reveal_field(&r, o, ",\"device_id\":", &f[R_DEVICE_ID]);
	obuf_puts(o, ",\"locale\":");
	jsonw_string_or_null(o, f[R_LOCALE].type == JF_STRING ?
	    f[R_LOCALE].str : NULL, f[R_LOCALE].len);
	obuf_puts(o, ",\"app_version\":");
	if (f[R_APP_VERSION].type == JF_NUMBER)
		obuf_put(o, f[R_APP_VERSION].str, f[R_APP_VERSION].len);
	else
		obuf_puts(o, "null");
	obuf_puts(o, ",\"create_date\":");
	jsonw_string_or_null(o, f[R_CREATE_DATE].type == JF_STRING ?
	    f[R_CREATE_DATE].str : NULL, f[R_CREATE_DATE].len);
	obuf_puts(o, "},\"message_id\":");
	string_or_null(o, &f[R_MESSAGE_ID]);
	obuf_puts(o, ",\"receipt_handle\":");
	string_or_null(o, &f[R_RECEIPT_HANDLE]);
	obuf_puts(o, "}\n");
	return bad ? -1 : 0;
}

