/*
 * test_common.c - unit tests of the pure parts of common/: UTF-8, JSON
 * field extraction, login rules, the line reader, JSON writing, the
 * HMAC mask (against RFC 4231's test vector) and SQS answer parsing.
 */
#include <sys/stat.h>

#include <arpa/inet.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "idset.h"
#include "jfields.h"
#include "ndjson.h"
#include "jsonw.h"
#include "lines.h"
#include "login.h"
#include "mask.h"
#include "sqsresp.h"
#include "utf8.h"

#define S(lit) lit, sizeof(lit) - 1

static void
test_utf8(void)
{
	CHECK(utf8_valid(S("plain ascii")));
	CHECK(utf8_valid(S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")));
	CHECK(utf8_valid(S("nul\0inside")));
	CHECK(!utf8_valid(S("\xc0\xaf")));		/* overlong '/' */
	CHECK(!utf8_valid(S("\xe0\x80\xaf")));		/* overlong, 3 bytes */
	CHECK(!utf8_valid(S("\xf0\x80\x80\xaf")));	/* overlong, 4 bytes */
	CHECK(!utf8_valid(S("\xed\xa0\x80")));		/* U+D800 */
	CHECK(!utf8_valid(S("\xf4\x90\x80\x80")));	/* above U+10FFFF */
	CHECK(!utf8_valid(S("\xc3")));			/* truncated */
	CHECK(!utf8_valid(S("\x80")));			/* stray continuation */
	CHECK(!utf8_valid(S("\xff")));
	CHECK(utf8_valid(S("\xf4\x8f\xbf\xbf")));	/* U+10FFFF */
	CHECK(utf8_chars(S("caf\xc3\xa9")) == 4);
	CHECK(utf8_chars(S("\xf0\x9f\x98\x80")) == 1);
}

static void
test_jfields(void)
{
	struct jfields_parser p;
	struct jfields_field f[] = {
		JF_FIELD("a"), JF_FIELD("row"),
		JF_CHILD("row", "x"), JF_CHILD("row", "y"),
	};

	jfields_init(&p, 8, JF_UNIQUE_KEYS);
	CHECK(jfields_parse(&p, S("{\"a\":\"h\\u00e9\",\"row\":{\"z\":[1,{\"x\":5}],"
	    "\"x\":-1.5e3,\"y\":null},\"b\":{\"x\":1}}"), f, 4) == JF_OK);
	CHECK(f[0].type == JF_STRING && f[0].len == 3 &&
	    memcmp(f[0].str, "h\xc3\xa9", 3) == 0);
	CHECK(f[1].type == JF_OBJECT);
	CHECK(f[2].type == JF_NUMBER && f[2].len == 6 &&
	    memcmp(f[2].str, "-1.5e3", 6) == 0);
	CHECK(f[3].type == JF_NULL);

	CHECK(jfields_parse(&p, S("{\"b\":1}"), f, 4) == JF_OK);
	CHECK(f[0].type == JF_ABSENT && f[2].type == JF_ABSENT);
	CHECK(jfields_parse(&p, S("{\"q\":1,\"q\":2}"), f, 4) == JF_EDUPKEY);
	CHECK(jfields_parse(&p, S("{\"a\":1,\"a\":1}"), f, 4) == JF_EDUPKEY);
	CHECK(jfields_parse(&p, S("{\"row\":{\"x\":1,\"x\":2}}"), f, 4) ==
	    JF_EDUPKEY);
	/* keys differing after a NUL are different keys */
	CHECK(jfields_parse(&p, S("{\"k\\u0000a\":1,\"k\\u0000b\":2}"), f, 4) ==
	    JF_OK);
	CHECK(jfields_parse(&p, S("[1]"), f, 4) == JF_ENOTOBJECT);
	CHECK(jfields_parse(&p, S("\"s\""), f, 4) == JF_ENOTOBJECT);
	CHECK(jfields_parse(&p, S("{"), f, 4) == JF_ESYNTAX);
	CHECK(jfields_parse(&p, S(""), f, 4) == JF_ESYNTAX);
	CHECK(jfields_parse(&p, S("{} {}"), f, 4) == JF_ESYNTAX);
	CHECK(jfields_parse(&p, S("{\"a\":\"\\ud800\"}"), f, 4) == JF_ESURROGATE);
	CHECK(jfields_parse(&p, S("{\"a\":\"\\udc00\\ud800\"}"), f, 4) ==
	    JF_ESURROGATE);
	CHECK(jfields_parse(&p, S("{\"a\":\"\\\\ud800\"}"), f, 4) == JF_OK);
	CHECK(jfields_parse(&p, S("{\"a\":\"\\\\\\ud800\"}"), f, 4) ==
	    JF_ESURROGATE);	/* backslash, then a real escape */
	CHECK(jfields_parse(&p, S("{\"a\":\"\\\\\\\\ud800\"}"), f, 4) ==
	    JF_OK);		/* two backslashes, then text */
	CHECK(jfields_parse(&p, S("{\"a\":\"\\ud83d\\ude00\"}"), f, 4) == JF_OK);
	CHECK(f[0].len == 4);
	CHECK(jfields_parse(&p, S("{\"a\":\"\xc0\xaf\"}"), f, 4) == JF_EUTF8);
	/* the limit is 8 levels, the top-level object included */
	CHECK(jfields_parse(&p, S("{\"a\":[[[[[[[[1]]]]]]]]}"), f, 4) == JF_EDEPTH);
	CHECK(jfields_parse(&p, S("{\"a\":[[[[[[[1]]]]]]]}"), f, 4) == JF_OK);

	/* many keys: the key set grows and still finds the duplicate */
	{
		char buf[40000];
		size_t n = 0;

		n += (size_t)sprintf(buf + n, "{");
		for (int i = 0; i < 2000; i++)
			n += (size_t)sprintf(buf + n, "\"k%d\":%d,", i, i);
		n += (size_t)sprintf(buf + n, "\"k7\":0}");
		CHECK(jfields_parse(&p, buf, n, f, 4) == JF_EDUPKEY);
		n -= 7;
		n += (size_t)sprintf(buf + n, "\"k\":0}");
		CHECK(jfields_parse(&p, buf, n, f, 4) == JF_OK);
	}
	/* around the switch from the list of the first keys to the set */
	for (int keys = JF_FEW_KEYS - 2; keys <= JF_FEW_KEYS + 2; keys++)
		for (int dup = -1; dup < keys; dup++) {
			char buf[1024];
			size_t n = 0;

			for (int i = 0; i < keys; i++)
				n += (size_t)sprintf(buf + n, "%s\"k%d\":%d",
				    i ? "," : "{", i, i);
			if (dup >= 0)
				n += (size_t)sprintf(buf + n, ",\"k%d\":0", dup);
			n += (size_t)sprintf(buf + n, "}");
			CHECK(jfields_parse(&p, buf, n, f, 4) ==
			    (dup >= 0 ? JF_EDUPKEY : JF_OK));
		}
	jfields_free(&p);

	/* without JF_UNIQUE_KEYS only wanted fields must be unique */
	jfields_init(&p, 8, 0);
	CHECK(jfields_parse(&p, S("{\"q\":1,\"q\":2,\"a\":3}"), f, 4) == JF_OK);
	CHECK(f[0].type == JF_NUMBER);
	CHECK(jfields_parse(&p, S("{\"a\":1,\"a\":2}"), f, 4) == JF_EDUPKEY);
	jfields_free(&p);
}

static void
test_login(void)
{
	struct jfields_parser p;
	struct login l;
	long v;
	char date[11];

	CHECK(login_app_version(S("2.3.0"), &v) == 0 && v == 2003000);
	CHECK(login_app_version(S("0.96"), &v) == 0 && v == 96000);
	CHECK(login_app_version(S("2146.999.999"), &v) == 0 && v == 2146999999);
	CHECK(login_app_version(S("2147.0.0"), &v) < 0);
	CHECK(login_app_version(S("1.1000.0"), &v) < 0);
	CHECK(login_app_version(S("v2.3.0"), &v) < 0);
	CHECK(login_app_version(S("2.x.1"), &v) < 0);
	/* a bare major, leading zeros, semver suffixes (#14) */
	CHECK(login_app_version(S("10"), &v) == 0 && v == 10000000);
	CHECK(login_app_version(S("6.02"), &v) == 0 && v == 6002000);
	CHECK(login_app_version(S("2.00"), &v) == 0 && v == 2000000);
	CHECK(login_app_version(S("02.3"), &v) == 0 && v == 2003000);
	CHECK(login_app_version(S("2.3.007"), &v) == 0 && v == 2003007);
	CHECK(login_app_version(S("1.0.0-beta"), &v) == 0 && v == 1000000);
	CHECK(login_app_version(S("2.3.0+45"), &v) == 0 && v == 2003000);
	CHECK(login_app_version(S("1.0.0-rc.1+build.5"), &v) == 0 &&
	    v == 1000000);
	CHECK(login_app_version(S("3-alpha"), &v) == 0 && v == 3000000);
	CHECK(login_app_version(S("0002147.1"), &v) < 0);	/* > 2146 */
	CHECK(login_app_version(S("0002146.1"), &v) == 0 && v == 2146001000);
	CHECK(login_app_version(S("1.0.0-"), &v) < 0);
	CHECK(login_app_version(S("1.0.0+"), &v) < 0);
	CHECK(login_app_version(S("1.0.0 beta"), &v) < 0);
	CHECK(login_app_version(S("1.0.0-be ta"), &v) < 0);
	CHECK(login_app_version(S("1.0.0_beta"), &v) < 0);
	CHECK(login_app_version(S("1.-1"), &v) < 0);
	CHECK(login_app_version(S(""), &v) < 0);
	CHECK(login_app_version(S("-1"), &v) < 0);
	CHECK(login_app_version(S("2."), &v) < 0);
	CHECK(login_app_version(S("2.3."), &v) < 0);
	CHECK(login_app_version(S("2.3.0.1"), &v) < 0);
	CHECK(login_app_version(S("0.0.0"), &v) == 0 && v == 0);
	CHECK(login_app_version(S("+1.2"), &v) < 0);
	CHECK(login_app_version(S(" 1.2"), &v) < 0);
	CHECK(login_app_version(S("99999999999999999999.1"), &v) < 0);

	CHECK(login_utc_date(0, date) == 0 && strcmp(date, "1970-01-01") == 0);
	CHECK(login_utc_date(1700000000000LL, date) == 0 &&
	    strcmp(date, "2023-11-14") == 0);
	CHECK(login_utc_date(-1, date) == 0 && strcmp(date, "1969-12-31") == 0);
	CHECK(login_utc_date(253402300800000LL, date) < 0);

	{
		static const char *const ok[][2] = {
			{ "199.172.111.135", "199.172.111.135" },
			{ "0.0.0.0", "0.0.0.0" },
			{ "2001:DB8::1", "2001:db8::1" },
			{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
			{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
			{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
			{ "::ffff:192.0.2.1", "192.0.2.1" },
			{ "::FFFF:c000:0201", "192.0.2.1" },
			{ "::1", "::1" },
			{ "::", "::" },
		};
		static const char *const bad[] = { "", "1.2.3", "1.2.3.4.5",
		    "256.1.1.1", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ",
		    "fe80::1%eth0", "2001:db8::1::2", "localhost",
		    "593-47-5928", "1.2.3.4/24" };
		char canon[LOGIN_IP_MAX];

		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			int n = login_canonical_ip(ok[i][0], strlen(ok[i][0]),
			    canon);

			CHECK(n > 0 && strcmp(canon, ok[i][1]) == 0);
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK(login_canonical_ip(bad[i], strlen(bad[i]),
			    canon) < 0);
		/* IPv4 text is written by hand: as inet_ntop would, for
		 * every octet value in every place. */
		for (int octet = 0; octet < 256; octet++)
			for (int at = 0; at < 4; at++) {
				unsigned char a[4] = { 10, 200, 3, 45 };
				char text[INET_ADDRSTRLEN], want[INET_ADDRSTRLEN];
				int n;

				a[at] = (unsigned char)octet;
				snprintf(text, sizeof(text), "%d.%d.%d.%d", a[0],
				    a[1], a[2], a[3]);
				inet_ntop(AF_INET, a, want, sizeof(want));
				n = login_canonical_ip(text, strlen(text), canon);
				CHECK(n == (int)strlen(want) &&
				    strcmp(canon, want) == 0);
			}
	}

	CHECK(login_check_text(S(""), 5) != NULL);
	CHECK(login_check_text(S("a\0b"), 5) != NULL);
	CHECK(login_check_text(S("\xc3\xa9\xc3\xa9"), 2) == NULL);
	CHECK(login_check_text(S("\xc3\xa9\xc3\xa9\xc3\xa9"), 2) != NULL);

	jfields_init(&p, NDJSON_MAX_DEPTH, JF_UNIQUE_KEYS);
	CHECK(login_parse(&p, S("{\"user_id\":\"u\",\"ip\":\"1.2.3.4\","
	    "\"device_id\":null,\"app_version\":\"1.2\",\"more\":[]}"), &l) == NULL);
	CHECK(l.user_id.len == 1 && l.ip.len == 7 && l.device_id.str == NULL &&
	    l.has_app_version && l.app_version == 1002000 &&
	    l.locale.str == NULL);
	CHECK(strcmp(login_parse(&p, S("{}"), &l), "user_id: missing") == 0);
	CHECK(strcmp(login_parse(&p, S("{\"user_id\":\"u\",\"locale\":7}"), &l),
	    "locale: not a string or null") == 0);
	jfields_free(&p);
}

/* Writes data to a temporary file and opens it for reading. */
static int
input(const char *data, size_t n)
{
	char path[] = "/tmp/test_lines.XXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	if (write(fd, data, n) != (ssize_t)n)
		abort();
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void
test_lines(void)
{
	struct lines lr;
	const char *line;
	size_t len;
	char big[300];
	int fd;

	fd = input(S("one\n\ntwo\r\nlast"));
	CHECK(lines_init(&lr, fd, 16) == 0);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_OK && len == 3 &&
	    memcmp(line, "one", 3) == 0);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_OK && len == 0);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_OK && len == 4);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_OK && len == 4 &&
	    memcmp(line, "last", 4) == 0 && lr.lineno == 4);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_EOF);
	lines_free(&lr);
	close(fd);

	/* a line over the limit is skipped whole and counted */
	memset(big, 'x', sizeof(big));
	big[100] = '\n';
	memcpy(big + 101, "ok\n", 3);
	big[299] = 'y';		/* then an overlong last line, no newline */
	fd = input(big, sizeof(big));
	CHECK(lines_init(&lr, fd, 16) == 0);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_TOOLONG && len == 100);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_OK && len == 2);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_TOOLONG && len == 196);
	CHECK(lines_next(&lr, -1, &line, &len) == LINES_EOF);
	CHECK(lr.lineno == 3);
	lines_free(&lr);
	close(fd);

	/* an empty pipe: timeout 0 says so at once instead of blocking */
	{
		int p[2];

		CHECK(pipe(p) == 0);
		CHECK(lines_init(&lr, p[0], 16) == 0);
		CHECK(lines_next(&lr, 0, &line, &len) == LINES_TIMEOUT);
		CHECK(write(p[1], "half", 4) == 4);
		CHECK(lines_next(&lr, 0, &line, &len) == LINES_TIMEOUT);
		CHECK(write(p[1], "\n", 1) == 1);
		CHECK(lines_next(&lr, 0, &line, &len) == LINES_OK && len == 4);
		close(p[1]);
		CHECK(lines_next(&lr, 10, &line, &len) == LINES_EOF);
		lines_free(&lr);
		close(p[0]);
	}
}

static void
test_jsonw(void)
{
	struct obuf b = { .len = 0 };

	jsonw_string(&b, S("a\"b\\c\n\t\x01\x7f\xc3\xa9/"));
	obuf_putc(&b, ' ');
	jsonw_string(&b, S("\0"));
	obuf_putc(&b, ' ');
	jsonw_string_or_null(&b, NULL, 0);
	obuf_putc(&b, ' ');
	obuf_putll(&b, -9223372036854775807LL - 1);
	obuf_putc(&b, ' ');
	obuf_putll(&b, 0);
	obuf_putc(&b, '\0');
	CHECK(!b.oom);
	CHECK(strcmp(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\x7f\xc3\xa9/\" \"\\u0000\" null "
	    "-9223372036854775808 0") == 0);

	/* Every byte value at every place of a 19-byte string (words are
	 * scanned eight bytes at a time): escaped exactly when it must be. */
	static const char ctl[] = "\b\t\n\f\r";

	for (int c = 0; c < 256; c++)
		for (size_t at = 0; at < 19; at++) {
			char in[19], want[32];
			size_t w = 0;

			memset(in, 'x', sizeof(in));
			in[at] = (char)c;
			want[w++] = '"';
			for (size_t i = 0; i < at; i++)
				want[w++] = 'x';
			if (c == '"' || c == '\\') {
				want[w++] = '\\';
				want[w++] = (char)c;
			} else if (c != 0 && strchr(ctl, c) != NULL) {
				want[w++] = '\\';
				want[w++] = "btnfr"[strchr(ctl, c) - ctl];
			} else if (c < 0x20)
				w += (size_t)snprintf(want + w, 7, "\\u%04x", c);
			else
				want[w++] = (char)c;
			for (size_t i = at + 1; i < sizeof(in); i++)
				want[w++] = 'x';
			want[w++] = '"';
			obuf_clear(&b);
			jsonw_string(&b, in, sizeof(in));
			CHECK(b.len == w && memcmp(b.p, want, w) == 0);
		}
	obuf_free(&b);
}

static void
test_mask(void)
{
	char path[] = "/tmp/test_key.XXXXXX", hex[MASK_HEX_LEN + 1];
	struct mask_key *key;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	/* RFC 4231 test case 6: a 131-byte key of 0xaa, hashed first. */
	for (int i = 0; i < 131; i++)
		fputs(i % 40 == 39 ? "aa\n" : "aa", f);
	fclose(f);
	CHECK(chmod(path, 0600) == 0);
	CHECK(mask_key_load(path, &key) == NULL);
	CHECK(mask_hmac_hex(key, S("Test Using Larger Than Block-Size Key - "
	    "Hash Key First"), hex) == 0);
	CHECK(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54") == 0);
	/* the precomputed state is reused: same answer twice */
	CHECK(mask_hmac_hex(key, S("Test Using Larger Than Block-Size Key - "
	    "Hash Key First"), hex) == 0);
	CHECK(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54") == 0);

	/* siv: deterministic, reversible, and tamper-evident */
	{
		char m1[300], m2[300], back[64];
		long n1, n2, nb;

		CHECK(mask_siv(key, S("x"), m1, sizeof(m1)) < 0);	/* no init */
		CHECK(mask_siv_init(key) == 0);
		n1 = mask_siv(key, S("593-47-5928"), m1, sizeof(m1));
		n2 = mask_siv(key, S("593-47-5928"), m2, sizeof(m2));
		CHECK(n1 == MASK_SIV_LEN(11) && n1 == n2 &&
		    memcmp(m1, m2, (size_t)n1) == 0);
		nb = mask_unsiv(key, m1, (size_t)n1, back, sizeof(back));
		CHECK(nb == 11 && memcmp(back, "593-47-5928", 11) == 0);
		CHECK(mask_siv(key, S("593-47-5929"), m2, sizeof(m2)) == n1 &&
		    memcmp(m1, m2, (size_t)n1) != 0);
		m1[5] = m1[5] == 'A' ? 'B' : 'A';
		CHECK(mask_unsiv(key, m1, (size_t)n1, back, sizeof(back)) < 0);
		CHECK(mask_unsiv(key, S("not base64!"), back, sizeof(back)) < 0);
		CHECK(mask_unsiv(key, S("AAAA"), back, sizeof(back)) < 0);
		CHECK(mask_siv(key, S("593-47-5928"), m1, 10) < 0);	/* cap */
	}
	mask_key_free(key);

	CHECK(chmod(path, 0640) == 0);
	CHECK(mask_key_load(path, &key) != NULL && key == NULL);
	unlink(path);
}

static void
test_sqsresp(void)
{
	struct sqsresp a = { 0 };
	char big[4096];
	size_t n;

	CHECK(sqsresp_parse_json(&a, S("{\"Messages\":[{\"MessageId\":\"m1\","
	    "\"ReceiptHandle\":\"r\\\"1\",\"Body\":\"a\\nb\","
	    "\"MD5OfBody\":\"x\",\"Attributes\":{\"SentTimestamp\":"
	    "\"1700000000123\",\"ApproximateReceiveCount\":\"2\"}},"
	    "{\"Body\":\"\"}]}")) == 0);
	CHECK(a.nmsgs == 2 && strcmp(a.msgs[0].message_id, "m1") == 0);
	CHECK(strcmp(a.msgs[0].receipt_handle, "r\"1") == 0);
	CHECK(a.msgs[0].body_len == 3 && strcmp(a.msgs[0].body, "a\nb") == 0);
	CHECK(a.msgs[0].sent_timestamp == 1700000000123LL &&
	    a.msgs[0].receive_count == 2);
	CHECK(a.msgs[1].message_id == NULL && a.msgs[1].body_len == 0 &&
	    a.msgs[1].sent_timestamp == -1 && a.msgs[1].receive_count == -1);
	CHECK(a.error_code == NULL && a.nents == 0);

	CHECK(sqsresp_parse_json(&a, S("{\"Successful\":[{\"Id\":\"0\"}],"
	    "\"Failed\":[{\"Id\":\"1\",\"Code\":\"ReceiptHandleIsInvalid\","
	    "\"SenderFault\":true}]}")) == 0);
	CHECK(a.nmsgs == 0 && a.nents == 2);
	CHECK(!a.ents[0].failed && strcmp(a.ents[0].id, "0") == 0);
	CHECK(a.ents[1].failed && a.ents[1].sender_fault &&
	    strcmp(a.ents[1].code, "ReceiptHandleIsInvalid") == 0);

	CHECK(sqsresp_parse_json(&a, S("{\"__type\":\"com.amazonaws.sqs#"
	    "QueueDoesNotExist\",\"message\":\"gone\"}")) == 0);
	CHECK(strcmp(a.error_code, "QueueDoesNotExist") == 0 &&
	    strcmp(a.error_message, "gone") == 0);
	/* A repeated key: the first counts, whatever its type.  An element
	 * that is not an object is an item with nothing in it. */
	CHECK(sqsresp_parse_json(&a, S("{\"Failed\":true,\"Failed\":[{\"Id\":"
	    "\"1\"}],\"Messages\":[7,{\"Body\":\"b\",\"Body\":\"c\",\"Attributes\":"
	    "{\"SentTimestamp\":\"0012\",\"ApproximateReceiveCount\":\"1x\"}}]}")) ==
	    0);
	CHECK(a.nents == 0 && a.nmsgs == 2 && a.msgs[0].body == NULL);
	CHECK(strcmp(a.msgs[1].body, "b") == 0 && a.msgs[1].sent_timestamp == 12 &&
	    a.msgs[1].receive_count == -1);
	CHECK(sqsresp_parse_json(&a, S("")) == 0 && a.nmsgs == 0);
	CHECK(sqsresp_parse_json(&a, S("{} // a comment")) < 0);
	CHECK(sqsresp_parse_json(&a, S("<xml/>")) < 0);
	CHECK(sqsresp_parse_json(&a, S("{\"Messages\":[")) < 0);

	/* An answer with more than a batch keeps the first SQSRESP_MAX. */
	n = (size_t)snprintf(big, sizeof(big), "<R>");
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "<Message>"
		    "<MessageId>m%d</MessageId><ReceiptHandle>h&amp;%d"
		    "</ReceiptHandle><Body>&lt;b&gt;</Body><Attribute><Name>"
		    "SentTimestamp</Name><Value>%d</Value></Attribute>"
		    "</Message>", i, i, 1000 + i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "</R>");
	CHECK(sqsresp_parse_xml(&a, big, n) == 0);
	CHECK(a.nmsgs == SQSRESP_MAX);
	CHECK(strcmp(a.msgs[9].message_id, "m9") == 0 &&
	    strcmp(a.msgs[9].receipt_handle, "h&9") == 0 &&
	    strcmp(a.msgs[9].body, "<b>") == 0 &&
	    a.msgs[9].sent_timestamp == 1009);
	CHECK(sqsresp_parse_xml(&a, S("<ErrorResponse><Error><Code>"
	    "AWS.SimpleQueueService.NonExistentQueue</Code><Message>no"
	    "</Message></Error></ErrorResponse>")) == 0);
	CHECK(strcmp(a.error_code, "NonExistentQueue") == 0);
	CHECK(sqsresp_parse_xml(&a, S("<DeleteMessageBatchResponse>"
	    "<DeleteMessageBatchResult><DeleteMessageBatchResultEntry><Id>3"
	    "</Id></DeleteMessageBatchResultEntry><BatchResultErrorEntry><Id>4"
	    "</Id><Code>InternalError</Code><SenderFault>false</SenderFault>"
	    "</BatchResultErrorEntry></DeleteMessageBatchResult>"
	    "</DeleteMessageBatchResponse>")) == 0);
	CHECK(a.nents == 2 && !a.ents[0].failed && a.ents[1].failed &&
	    !a.ents[1].sender_fault && strcmp(a.ents[1].code,
	    "InternalError") == 0);
	CHECK(sqsresp_parse_xml(&a, S("<ChangeMessageVisibilityBatchResponse>"
	    "<ChangeMessageVisibilityBatchResult>"
	    "<ChangeMessageVisibilityBatchResultEntry><Id>0</Id>"
	    "</ChangeMessageVisibilityBatchResultEntry><BatchResultErrorEntry>"
	    "<Id>1</Id><Code>ReceiptHandleIsInvalid</Code><SenderFault>true"
	    "</SenderFault></BatchResultErrorEntry>"
	    "</ChangeMessageVisibilityBatchResult>"
	    "</ChangeMessageVisibilityBatchResponse>")) == 0);
	CHECK(a.nents == 2 && !a.ents[0].failed && strcmp(a.ents[0].id, "0")
	    == 0 && a.ents[1].failed && a.ents[1].sender_fault &&
	    strcmp(a.ents[1].code, "ReceiptHandleIsInvalid") == 0);
	/* No DTD, so no entity can expand. */
	CHECK(sqsresp_parse_xml(&a, S("<!DOCTYPE r [<!ENTITY a \"aaaa\">]>"
	    "<r><Message><Body>&a;&a;</Body></Message></r>")) < 0);
	CHECK(sqsresp_parse_xml(&a, S("<r><Message>")) < 0);
	sqsresp_free(&a);
}

/* Ids are remembered for at least IDSET_SLOTS / 2 more, then forgotten;
 * a repeated id keeps its latest time. */
static void
test_idset(void)
{
	struct idset s;
	char id[32];
	int n;

	CHECK(idset_init(&s) == 0);
	CHECK(idset_find(&s, "a", 1) == -1);
	idset_add(&s, "a", 1, 5);
	idset_add(&s, "a", 1, 7);
	CHECK(idset_find(&s, "a", 1) == 7);
	CHECK(idset_find(&s, "b", 1) == -1);
	for (int i = 0; i < IDSET_SLOTS / 2; i++) {
		n = snprintf(id, sizeof(id), "m-%d", i);
		idset_add(&s, id, (size_t)n, i);
	}
	CHECK(idset_find(&s, "a", 1) == 7);	/* in the older generation */
	n = snprintf(id, sizeof(id), "m-%d", 0);
	CHECK(idset_find(&s, id, (size_t)n) == 0);
	for (int i = 0; i < IDSET_SLOTS / 2; i++) {
		n = snprintf(id, sizeof(id), "n-%d", i);
		idset_add(&s, id, (size_t)n, i);
	}
	CHECK(idset_find(&s, "a", 1) == -1);	/* forgotten */
	n = snprintf(id, sizeof(id), "n-%d", IDSET_SLOTS / 2 - 1);
	CHECK(idset_find(&s, id, (size_t)n) == IDSET_SLOTS / 2 - 1);
	idset_free(&s);
}

int
main(void)
{
	test_idset();
	test_utf8();
	test_jfields();
	test_login();
	test_lines();
	test_jsonw();
	test_mask();
	test_sqsresp();
	return check_done("test_common");
}
