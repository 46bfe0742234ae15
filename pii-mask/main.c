/*
 * pii-mask - validate login messages and mask their personal data.
 *
 * Reads sqs-recv lines (or bare login bodies) and writes, for each input
 * line and in order, one "row" line or one "reject" line.  With --reveal
 * it does the reverse for reversible (--mode siv) masks.  See
 * docs/ndjson.md for the formats and pii-mask(1) for the rules.
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
#include "ndjson.h"
#include "reveal.h"
#include "jsonw.h"
#include "lines.h"
#include "login.h"
#include "mask.h"
#include "stats.h"
#include "tool.h"

#define KEY_ID_MAX 32

/* The ids first, in ndjson.h's order, so ndjson_ids_read() takes them. */
enum { E_MESSAGE_ID, E_RECEIPT_HANDLE, E_SENT_TIMESTAMP, E_RECEIVE_COUNT,
    E_BODY, E_COUNT };

struct masker {
	struct obuf out;	/* lines not yet written to stdout */
	struct mask_key *key;
	int siv;		/* --mode siv: reversible masks */
	int reject_body;	/* --reject-body: rejects carry their body */
	const char *key_id;	/* --key-id: masks read "ID:..." */
	struct jfields_parser line;	/* the input line */
	struct jfields_parser body;	/* the body inside an envelope */
	long today;		/* day number of today_date, or -1 */
	char today_date[11];
	long long sent_day;	/* day number of sent_date, or LLONG_MIN */
	char sent_date[11];
	long unrevealed;	/* --reveal: masks that were not ours */
	struct stats stats;
};

enum { S_LINES, S_ROWS, S_REJECTED };
static const struct stats_counter counters[] = {
	{ "lines", "read_lines", "Lines read." },
	{ "rows", "row_lines", "Row lines written, one per valid login." },
	{ "rejected", NULL, NULL },	/* fetch_awards_rejects_total{reason} */
	{ NULL, NULL, NULL },
};

/* A computed mask: NULL text for a NULL value. */
struct mask_text {
	const char *text;
	size_t len;
	char buf[LOGIN_MAX_MASK + 1];
};

static void
usage(FILE *f)
{
	fputs("usage: pii-mask [--key-file FILE] [--mode hmac|siv] [--key-id ID]\n"
	    "                [--reject-body]\n"
	    "       pii-mask --reveal [--key-file FILE] [--key-id ID]\n"
	    "\n"
	    "Reads sqs-recv lines or bare login bodies on standard input and writes\n"
	    "one row or reject line per input line.  ip and device_id are replaced\n"
	    "by masks under the secret key.\n"
	    "\n"
	    "  -k, --key-file FILE  hex key of at least 32 bytes, mode 600\n"
	    "                       (default: $PII_MASK_KEY_FILE)\n"
	    "  -m, --mode MODE      hmac: HMAC-SHA256, one-way (default);\n"
	    "                       siv: AES-SIV, reversible with --reveal\n"
	    "  -i, --key-id ID      prefix every mask with \"ID:\" (1-32 of A-Z a-z\n"
	    "                       0-9 . _ -), to tell keys apart after rotation\n"
	    "  -b, --reject-body    reject lines carry the message body (raw, as\n"
	    "                       sent) for sqs-ack --dead-letter-queue\n"
	    "  -r, --reveal         read row lines or siv masks, write the originals\n"
	    STATS_USAGE
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n"
	    "\n"
	    "Exit status: 0 done (rejects included), 1 some masks not revealed,\n"
	    "2 usage, 3 key missing or bad, 4 reading or writing failed.\n", f);
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

/* The UTC date of an envelope's sent_timestamp (ms, checked by
 * ndjson_ids_read()), or NULL and *why.  Consecutive messages are mostly
 * of one day: it is formatted once. */
static const char *
sent_date(struct masker *m, long long ms, const char **why)
{
	long long day = ms / 86400000;

	if (day != m->sent_day) {
		if (login_utc_date(ms, m->sent_date) < 0) {
			*why = "sent_timestamp: out of range";
			return NULL;
		}
		m->sent_day = day;
	}
	return m->sent_date;
}

/* Computes the mask of v into t.  Returns NULL, or toolong when a siv
 * mask would not fit its column. */
static const char *
make_mask(struct masker *m, const struct login_str *v, struct mask_text *t,
    const char *toolong)
{
	size_t pre = 0;
	long n;

	t->text = NULL;
	if (v->str == NULL)
		return NULL;
	if (m->key_id != NULL) {
		pre = strlen(m->key_id);
		memcpy(t->buf, m->key_id, pre);
		t->buf[pre++] = ':';
	}
	if (!m->siv) {
		if (mask_hmac_hex(m->key, v->str, v->len, t->buf + pre) < 0)
			errx(EXIT_CONFIG, "HMAC-SHA256 failed in the crypto "
			    "library");
		n = MASK_HEX_LEN;
	} else if (pre + MASK_SIV_LEN(v->len) > LOGIN_MAX_MASK)
		return toolong;
	else if ((n = mask_siv(m->key, v->str, v->len, t->buf + pre,
	    sizeof(t->buf) - pre)) < 0)
		errx(EXIT_CONFIG, "AES-SIV failed in the crypto library");
	t->text = t->buf;
	t->len = pre + (size_t)n;
	return NULL;
}

static void
write_row(struct obuf *o, const struct login *l, const struct mask_text *ip,
    const struct mask_text *dev, const char *date,
    const struct ndjson_ids *ids)
{
	struct ndjson_row r = {
		.user_id = { l->user_id.str, l->user_id.len },
		.device_type = { l->device_type.str, l->device_type.len },
		.masked_ip = { ip->text, ip->len },
		.masked_device_id = { dev->text, dev->len },
		.locale = { l->locale.str, l->locale.len },
		.has_app_version = l->has_app_version,
		.app_version = l->app_version,
		.create_date = date,
	};

	ndjson_row_write(o, &r, ids);
}

/* A reject line: the reason and the ids; the body only when asked
 * (--reject-body), so that sqs-ack can park the message as it was sent. */
static void
write_reject(struct obuf *o, const char *why, const struct ndjson_ids *ids,
    const struct jfields_field *body)
{
	struct ndjson_text b = { body ? body->str : NULL, body ? body->len : 0 };

	ndjson_reject_write(o, why, strlen(why), ids, body ? &b : NULL);
}

static void
mask_line(struct masker *m, const char *line, size_t len)
{
	/* One pass finds both an envelope's fields and a bare body's. */
	struct jfields_field f[E_COUNT + LOGIN_NFIELDS] = {
		NDJSON_ID_FIELDS,
		[E_BODY] = JF_FIELD("body"),
		LOGIN_FIELDS
	};
	const struct jfields_field *body = NULL;
	const char *date = NULL, *why = NULL;
	struct ndjson_ids ids = { .sent_timestamp = -1, .receive_count = -1 };
	struct mask_text ip, dev;
	enum jfields_error e;
	struct login l;

	e = jfields_parse(&m->line, line, len, f, E_COUNT + LOGIN_NFIELDS);
	if (e != JF_OK) {
		why = jfields_strerror(e);
	} else if (f[E_RECEIPT_HANDLE].type == JF_STRING &&
	    f[E_BODY].type == JF_STRING) {
		/* An envelope: its ids are checked as every stage checks
		 * them, and its body is judged on its own. */
		body = &f[E_BODY];
		why = ndjson_ids_read(&f[E_MESSAGE_ID], &ids);
		if (why == NULL)
			date = ids.sent_timestamp < 0 ? today(m) :
			    sent_date(m, ids.sent_timestamp, &why);
		if (why == NULL && body->len > NDJSON_MAX_BODY)
			why = "body longer than 1 MiB";
		if (why == NULL)
			why = login_parse(&m->body, body->str, body->len, &l);
	} else {
		/* A bare body, from a replayed raw file. */
		date = today(m);
		if (len > NDJSON_MAX_BODY)
			why = "body longer than 1 MiB";
		else
			why = login_from_fields(&f[E_COUNT], &l);
	}
	if (why == NULL)
		why = make_mask(m, &l.ip, &ip,
		    "ip: too long for a siv mask of 256 characters");
	if (why == NULL)
		why = make_mask(m, &l.device_id, &dev,
		    "device_id: too long for a siv mask of 256 characters");
	if (why != NULL) {
		write_reject(&m->out, why, &ids, m->reject_body ? body : NULL);
		stats_add(&m->stats, S_REJECTED, 1);
		stats_reason(&m->stats, why, strlen(why));
		return;
	}
	stats_add(&m->stats, S_ROWS, 1);
	if (l.ip_note != NULL)
		stats_note(&m->stats, l.ip_note, strlen(l.ip_note));
	write_row(&m->out, &l, &ip, &dev, date, &ids);
}

static int
valid_key_id(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= KEY_ID_MAX && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, 'm' },
		{ "key-id", required_argument, NULL, 'i' },
		{ "reveal", no_argument, NULL, 'r' },
		{ "reject-body", no_argument, NULL, 'b' },
		STATS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct masker m = { .today = -1, .sent_day = LLONG_MIN };
	const char *key_path = getenv("PII_MASK_KEY_FILE"), *why, *line;
	struct lines in;
	int c, reveal = 0;
	size_t len;

	while ((c = getopt_long(argc, argv, STATS_SHORTOPTS "k:m:i:rbhV",
	    longopts, NULL)) != -1) {
		if (xstats_option(&m.stats, c, optarg))
			continue;
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "hmac") != 0 &&
			    strcmp(optarg, "siv") != 0) {
				warnx("--mode: expected hmac or siv");
				exit(EXIT_USAGE);
			}
			m.siv = strcmp(optarg, "siv") == 0;
			break;
		case 'i':
			if (!valid_key_id(optarg)) {
				warnx("--key-id: 1 to %d of A-Z a-z 0-9 . _ -",
				    KEY_ID_MAX);
				exit(EXIT_USAGE);
			}
			m.key_id = optarg;
			break;
		case 'r':
			reveal = 1;
			break;
		case 'b':
			m.reject_body = 1;
			break;
		case 'V':
			tool_version("pii-mask");
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
	/* From here a signal ends cleanly, and any exit, a bad key's
	 * included, leaves its stats. */
	tool_catch_signals();
	stats_init(&m.stats, "pii-mask", counters, "lines");
	if (key_path == NULL || *key_path == '\0')
		errx(EXIT_CONFIG, "no key: give --key-file or set "
		    "PII_MASK_KEY_FILE");
	if ((why = mask_key_load(key_path, &m.key)) != NULL)
		errx(EXIT_CONFIG, "key file %s: %s", key_path, why);
	/* Only siv masks can be revealed: --reveal means siv. */
	if ((m.siv || reveal) && mask_siv_init(m.key) < 0)
		errx(EXIT_CONFIG, "AES-256-SIV is not available in the crypto "
		    "library");

	tool_init_output();
	if (lines_init(&in, 0, NDJSON_MAX_LINE) < 0)
		err(EXIT_IO, "line buffer");
	/* A line may be a body, and a body must have every key once. */
	jfields_init(&m.line, NDJSON_MAX_DEPTH, JF_UNIQUE_KEYS);
	jfields_init(&m.body, NDJSON_MAX_DEPTH, JF_UNIQUE_KEYS);
	for (;;) {
		enum lines_result r;

		/* SIGTERM, SIGINT: what was read is written, then exit 0
		 * (the unread rest is not lost: nothing of it is acked). */
		if (tool_stop)
			break;
		/* Write out only when the next line would make us wait, or
		 * in large chunks. */
		r = lines_next(&in, m.out.len ? 0 : STATS_TICK_MS, &line,
		    &len);

		if (r == LINES_EOF)
			break;
		if (r == LINES_ERROR)
			err(EXIT_IO, "reading standard input");
		if (r == LINES_TIMEOUT) {
			xwrite(&m.out);
			stats_tick(&m.stats);
			continue;
		}
		stats_add(&m.stats, S_LINES, 1);
		if (r == LINES_TOOLONG && reveal) {
			obuf_puts(&m.out, "null\n");
			m.unrevealed++;
		} else if (r == LINES_TOOLONG) {
			write_reject(&m.out, "line longer than 6 MiB",
			    &ndjson_no_ids, NULL);
			stats_add(&m.stats, S_REJECTED, 1);
			stats_reason(&m.stats, "line longer than 6 MiB", 22);
		} else if (reveal) {
			if (reveal_line(m.key, m.key_id, &m.line, &m.out, line,
			    len) < 0)
				m.unrevealed++;
		} else
			mask_line(&m, line, len);
		if (m.out.len >= TOOL_OUT_CHUNK) {
			xwrite(&m.out);
			stats_tick(&m.stats);
		}
	}
	if (m.unrevealed > 0)
		warnx("%ld line(s) held masks this key cannot reveal",
		    m.unrevealed);
	stats_finish(&m.stats);
	mask_key_free(m.key);
	jfields_free(&m.line);
	jfields_free(&m.body);
	lines_free(&in);
	xexit(&m.out, m.unrevealed > 0 ? EXIT_PARTIAL : EXIT_OK);
}
