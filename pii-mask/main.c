/*
 * pii-mask - validate login messages and mask their personal data.
 *
 * Reads sqs-recv lines (or bare login bodies) and writes, for each input
 * line and in order, one "row" line or one "reject" line.  See
 * docs/ndjson.md for the format and pii-mask(1) for the rules.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcode.h"
#include "jfields.h"
#include "jsonw.h"
#include "lines.h"
#include "login.h"
#include "mask.h"
#include "tool.h"

enum { E_MESSAGE_ID, E_RECEIPT_HANDLE, E_BODY, E_SENT_TIMESTAMP, E_COUNT };

struct masker {
	struct obuf out;	/* lines not yet written to stdout */
	struct mask_key *key;
	struct jfields_parser line;	/* the input line */
	struct jfields_parser body;	/* the body inside an envelope */
	long today;		/* day number of today_date, or -1 */
	char today_date[11];
	long long sent_day;	/* day number of sent_date, or LLONG_MIN */
	char sent_date[11];
};

static void
usage(FILE *f)
{
	fputs("usage: pii-mask [--key-file FILE]\n"
	    "\n"
	    "Reads sqs-recv lines or bare login bodies on standard input and writes\n"
	    "one row or reject line per input line.  ip and device_id are replaced\n"
	    "by HMAC-SHA256 masks under the secret key.\n"
	    "\n"
	    "  -k, --key-file FILE  hex key of at least 32 bytes, mode 600\n"
	    "                       (default: $PII_MASK_KEY_FILE)\n"
	    "  -h, --help           show this help\n"
	    "\n"
	    "Exit status: 0 done (rejects included), 2 usage, 3 key missing or bad,\n"
	    "4 reading or writing failed.\n", f);
}

/* The UTC date for a body without an envelope: the day it is masked. */
static const char *
today(struct masker *m)
{
	time_t now = time(NULL);

	if (now / 86400 != m->today) {
		m->today = now / 86400;
		if (login_utc_date((long long)now * 1000, m->today_date) < 0)
			errx(EXIT_CONFIG, "the system clock is out of range");
	}
	return m->today_date;
}

/* The UTC date of an envelope's sent_timestamp, or NULL and *why.
 * Consecutive messages are mostly of one day: it is formatted once. */
static const char *
sent_date(struct masker *m, const struct jfields_field *f, const char **why)
{
	char text[24], *end;
	long long ms, day;

	if (f->type != JF_NUMBER || f->len >= sizeof(text) ||
	    memchr(f->str, '.', f->len) || memchr(f->str, 'e', f->len) ||
	    memchr(f->str, 'E', f->len)) {
		*why = "sent_timestamp: not an integer";
		return NULL;
	}
	memcpy(text, f->str, f->len);
	text[f->len] = '\0';
	errno = 0;
	ms = strtoll(text, &end, 10);
	day = ms >= 0 ? ms / 86400000 : (ms + 1) / 86400000 - 1;
	if (*end != '\0' || errno == ERANGE) {
		*why = "sent_timestamp: out of range";
		return NULL;
	}
	if (day != m->sent_day) {
		if (login_utc_date(ms, m->sent_date) < 0) {
			*why = "sent_timestamp: out of range";
			return NULL;
		}
		m->sent_day = day;
	}
	return m->sent_date;
}

static void
write_mask(struct masker *m, const struct login_str *v)
{
	char hex[MASK_HEX_LEN + 1];

	if (v->str == NULL) {
		obuf_puts(&m->out, "null");
		return;
	}
	if (mask_hmac_hex(m->key, v->str, v->len, hex) < 0)
		errx(EXIT_CONFIG, "HMAC-SHA256 failed in the crypto library");
	obuf_putc(&m->out, '"');
	obuf_put(&m->out, hex, MASK_HEX_LEN);
	obuf_putc(&m->out, '"');
}

static void
write_row(struct masker *m, const struct login *l, const char *date)
{
	struct obuf *o = &m->out;

	obuf_puts(o, "{\"row\":{\"user_id\":");
	jsonw_string(o, l->user_id.str, l->user_id.len);
	obuf_puts(o, ",\"device_type\":");
	jsonw_string_or_null(o, l->device_type.str, l->device_type.len);
	obuf_puts(o, ",\"masked_ip\":");
	write_mask(m, &l->ip);
	obuf_puts(o, ",\"masked_device_id\":");
	write_mask(m, &l->device_id);
	obuf_puts(o, ",\"locale\":");
	jsonw_string_or_null(o, l->locale.str, l->locale.len);
	obuf_puts(o, ",\"app_version\":");
	if (l->has_app_version)
		obuf_putll(o, l->app_version);
	else
		obuf_puts(o, "null");
	obuf_puts(o, ",\"create_date\":\"");
	obuf_put(o, date, 10);
	obuf_puts(o, "\"}");
}

/* Ends a row or reject line with the ids of its message. */
static void
write_ids(struct obuf *o, const struct jfields_field *id,
    const struct jfields_field *rh)
{
	obuf_puts(o, ",\"message_id\":");
	if (id != NULL && id->type == JF_STRING)
		jsonw_string(o, id->str, id->len);
	else
		obuf_puts(o, "null");
	obuf_puts(o, ",\"receipt_handle\":");
	if (rh != NULL)
		jsonw_string(o, rh->str, rh->len);
	else
		obuf_puts(o, "null");
	obuf_puts(o, "}\n");
}

static void
write_reject(struct obuf *o, const char *why, const struct jfields_field *id,
    const struct jfields_field *rh)
{
	obuf_puts(o, "{\"reject\":");
	jsonw_string(o, why, strlen(why));
	write_ids(o, id, rh);
}

static void
mask_line(struct masker *m, const char *line, size_t len)
{
	/* One pass finds both an envelope's fields and a bare body's. */
	struct jfields_field f[E_COUNT + LOGIN_NFIELDS] = {
		[E_MESSAGE_ID] = JF_FIELD("message_id"),
		[E_RECEIPT_HANDLE] = JF_FIELD("receipt_handle"),
		[E_BODY] = JF_FIELD("body"),
		[E_SENT_TIMESTAMP] = JF_FIELD("sent_timestamp"),
		LOGIN_FIELDS
	};
	const struct jfields_field *id = NULL, *rh = NULL;
	const char *date = NULL, *why = NULL;
	enum jfields_error e;
	struct login l;

	e = jfields_parse(&m->line, line, len, f, E_COUNT + LOGIN_NFIELDS);
	if (e != JF_OK) {
		why = jfields_strerror(e);
	} else if (f[E_RECEIPT_HANDLE].type == JF_STRING &&
	    f[E_BODY].type == JF_STRING) {
		/* An envelope: its body is judged on its own. */
		id = &f[E_MESSAGE_ID];
		rh = &f[E_RECEIPT_HANDLE];
		if (f[E_SENT_TIMESTAMP].type == JF_ABSENT ||
		    f[E_SENT_TIMESTAMP].type == JF_NULL)
			date = today(m);
		else
			date = sent_date(m, &f[E_SENT_TIMESTAMP], &why);
		if (why == NULL && f[E_BODY].len > LOGIN_MAX_BODY)
			why = "body longer than 1 MiB";
		if (why == NULL)
			why = login_parse(&m->body, f[E_BODY].str, f[E_BODY].len,
			    &l);
	} else {
		/* A bare body, from a replayed raw file. */
		date = today(m);
		if (len > LOGIN_MAX_BODY)
			why = "body longer than 1 MiB";
		else
			why = login_from_fields(&f[E_COUNT], &l);
	}
	if (why != NULL) {
		write_reject(&m->out, why, id, rh);
		return;
	}
	write_row(m, &l, date);
	write_ids(&m->out, id, rh);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct masker m = { .today = -1, .sent_day = LLONG_MIN };
	const char *key_path = getenv("PII_MASK_KEY_FILE"), *why, *line;
	struct lines in;
	int c;
	size_t len;

	while ((c = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'h':
			usage(stdout);
			xexit(NULL, EXIT_OK);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(EXIT_USAGE);
	}
	if (key_path == NULL || *key_path == '\0')
		errx(EXIT_CONFIG, "no key: give --key-file or set "
		    "PII_MASK_KEY_FILE");
	if ((why = mask_key_load(key_path, &m.key)) != NULL)
		errx(EXIT_CONFIG, "key file %s: %s", key_path, why);

	tool_init_output();
	if (lines_init(&in, 0, LOGIN_MAX_LINE) < 0)
		err(EXIT_IO, "line buffer");
	/* A line may be a body, and a body must have every key once. */
	jfields_init(&m.line, LOGIN_MAX_DEPTH, JF_UNIQUE_KEYS);
	jfields_init(&m.body, LOGIN_MAX_DEPTH, JF_UNIQUE_KEYS);
	for (;;) {
		/* Write out only when the next line would make us wait, or
		 * in large chunks. */
		enum lines_result r = lines_next(&in, m.out.len ? 0 : -1, &line,
		    &len);

		if (r == LINES_EOF)
			break;
		if (r == LINES_ERROR)
			err(EXIT_IO, "reading standard input");
		if (r == LINES_TIMEOUT) {
			xwrite(&m.out);
			continue;
		}
		if (r == LINES_TOOLONG)
			write_reject(&m.out, "line longer than 6 MiB", NULL,
			    NULL);
		else
			mask_line(&m, line, len);
		if (m.out.len >= TOOL_OUT_CHUNK)
			xwrite(&m.out);
	}
	mask_key_free(m.key);
	jfields_free(&m.line);
	jfields_free(&m.body);
	lines_free(&in);
	xexit(&m.out, EXIT_OK);
}
