/*
 * pii-mask - validate login messages and mask their personal data.
 *
 * Reads sqs-recv lines (or bare login bodies) and writes, for each input
 * line and in order, one "row" line or one "reject" line.  See
 * docs/ndjson.md for the format and pii-mask(1) for the rules.
 */
#include <err.h>
#include <getopt.h>
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
	struct mask_key *key;
	struct jfields_parser envelope, body;
	long today;		/* day number of today_date, or -1 */
	char today_date[11];
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

/* The UTC date of an envelope's sent_timestamp, or NULL and *why. */
static const char *
sent_date(const struct jfields_field *f, char buf[11], const char **why)
{
	char text[24], *end;
	long long ms;

	if (f->type != JF_NUMBER || f->len >= sizeof(text) ||
	    memchr(f->str, '.', f->len) || memchr(f->str, 'e', f->len) ||
	    memchr(f->str, 'E', f->len)) {
		*why = "sent_timestamp: not an integer";
		return NULL;
	}
	memcpy(text, f->str, f->len);
	text[f->len] = '\0';
	ms = strtoll(text, &end, 10);
	if (*end != '\0' || login_utc_date(ms, buf) < 0) {
		*why = "sent_timestamp: out of range";
		return NULL;
	}
	return buf;
}

static void
write_mask(struct masker *m, const struct login_str *v)
{
	char hex[MASK_HEX_LEN + 1];

	if (v->str == NULL) {
		fputs("null", stdout);
		return;
	}
	if (mask_hmac_hex(m->key, v->str, v->len, hex) < 0)
		errx(EXIT_CONFIG, "HMAC-SHA256 failed in the crypto library");
	putc('"', stdout);
	fwrite(hex, 1, MASK_HEX_LEN, stdout);
	putc('"', stdout);
}

static void
write_row(struct masker *m, const struct login *l, const char *date)
{
	fputs("{\"row\":{\"user_id\":", stdout);
	jsonw_string(stdout, l->user_id.str, l->user_id.len);
	fputs(",\"device_type\":", stdout);
	jsonw_string_or_null(stdout, l->device_type.str, l->device_type.len);
	fputs(",\"masked_ip\":", stdout);
	write_mask(m, &l->ip);
	fputs(",\"masked_device_id\":", stdout);
	write_mask(m, &l->device_id);
	fputs(",\"locale\":", stdout);
	jsonw_string_or_null(stdout, l->locale.str, l->locale.len);
	if (l->has_app_version)
		printf(",\"app_version\":%ld", l->app_version);
	else
		fputs(",\"app_version\":null", stdout);
	fputs(",\"create_date\":\"", stdout);
	fputs(date, stdout);
	fputs("\"}", stdout);
}

/* Ends a row or reject line with the ids of its message. */
static void
write_ids(const struct jfields_field *id, const struct jfields_field *rh)
{
	fputs(",\"message_id\":", stdout);
	if (id != NULL && id->type == JF_STRING)
		jsonw_string(stdout, id->str, id->len);
	else
		fputs("null", stdout);
	fputs(",\"receipt_handle\":", stdout);
	if (rh != NULL)
		jsonw_string(stdout, rh->str, rh->len);
	else
		fputs("null", stdout);
	fputs("}\n", stdout);
}

static void
write_reject(const char *why, const struct jfields_field *id,
    const struct jfields_field *rh)
{
	fputs("{\"reject\":", stdout);
	jsonw_string(stdout, why, strlen(why));
	write_ids(id, rh);
}

static void
mask_line(struct masker *m, const char *line, size_t len)
{
	struct jfields_field env[E_COUNT] = {
		[E_MESSAGE_ID] = { .key = "message_id" },
		[E_RECEIPT_HANDLE] = { .key = "receipt_handle" },
		[E_BODY] = { .key = "body" },
		[E_SENT_TIMESTAMP] = { .key = "sent_timestamp" },
	};
	const struct jfields_field *id = NULL, *rh = NULL;
	const char *body = line, *date, *why = NULL;
	size_t body_len = len;
	char datebuf[11];
	struct login l;

	/* An object with a string receipt_handle and body is an envelope;
	 * anything else is taken as a bare body (a replayed raw file). */
	if (jfields_parse(&m->envelope, line, len, env, E_COUNT) == JF_OK &&
	    env[E_RECEIPT_HANDLE].type == JF_STRING &&
	    env[E_BODY].type == JF_STRING) {
		id = &env[E_MESSAGE_ID];
		rh = &env[E_RECEIPT_HANDLE];
		body = env[E_BODY].str;
		body_len = env[E_BODY].len;
		if (env[E_SENT_TIMESTAMP].type == JF_ABSENT ||
		    env[E_SENT_TIMESTAMP].type == JF_NULL)
			date = today(m);
		else
			date = sent_date(&env[E_SENT_TIMESTAMP], datebuf, &why);
	} else
		date = today(m);
	if (why == NULL && body_len > LOGIN_MAX_BODY)
		why = "body longer than 1 MiB";
	if (why == NULL)
		why = login_parse(&m->body, body, body_len, &l);
	if (why != NULL) {
		write_reject(why, id, rh);
		return;
	}
	write_row(m, &l, date);
	write_ids(id, rh);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct masker m = { .today = -1 };
	const char *key_path = getenv("PII_MASK_KEY_FILE"), *why, *line;
	struct lines in;
	int c, pending = 0;
	size_t len;

	while ((c = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'h':
			usage(stdout);
			xexit(EXIT_OK);
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
	jfields_init(&m.envelope, LOGIN_MAX_DEPTH);
	jfields_init(&m.body, LOGIN_MAX_DEPTH);
	for (;;) {
		/* Flush only when the next line would make us wait. */
		enum lines_result r = lines_next(&in, pending ? 0 : -1, &line,
		    &len);

		if (r == LINES_EOF)
			break;
		if (r == LINES_ERROR)
			err(EXIT_IO, "reading standard input");
		if (r == LINES_TIMEOUT) {
			xflush(stdout);
			pending = 0;
			continue;
		}
		if (r == LINES_TOOLONG)
			write_reject("line longer than 6 MiB", NULL, NULL);
		else
			mask_line(&m, line, len);
		pending = 1;
	}
	mask_key_free(m.key);
	jfields_free(&m.envelope);
	jfields_free(&m.body);
	lines_free(&in);
	xexit(EXIT_OK);
}
