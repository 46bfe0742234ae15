/*
 * login.c - validating login bodies.  See login.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>
#include <time.h>

#include "login.h"
#include "utf8.h"

/* Order of the fields in LOGIN_FIELDS. */
enum { F_USER_ID, F_DEVICE_TYPE, F_IP, F_DEVICE_ID, F_LOCALE, F_APP_VERSION,
    F_COUNT };

/* The fixed reject phrases of a string field.  Built by a macro so each
 * phrase is a constant naming its field: no formatting, no values. */
struct text_rule {
	size_t limit;		/* characters; 0: no limit of its own */
	const char *type, *empty, *nul, *toolong;
};

#define TEXT_RULE(name, limit, limtext, types) { limit,		\
	name ": not a " types, name ": empty string",			\
	name ": contains U+0000", name ": longer than " limtext " characters" }

#define OPT "string or null"

static const struct text_rule text_rules[F_COUNT] = {
	[F_USER_ID] = TEXT_RULE("user_id", LOGIN_MAX_USER_ID, "128",
	    "string or an integer"),
	[F_DEVICE_TYPE] = TEXT_RULE("device_type", LOGIN_MAX_SHORT, "32", OPT),
	[F_IP] = TEXT_RULE("ip", 0, "no", OPT),
	[F_DEVICE_ID] = TEXT_RULE("device_id", 0, "no", OPT),
	[F_LOCALE] = TEXT_RULE("locale", LOGIN_MAX_SHORT, "32", OPT),
	[F_APP_VERSION] = TEXT_RULE("app_version", 0, "no", OPT),
};

const char *
login_check_text(const char *s, size_t n, size_t limit)
{
	if (n == 0)
		return "empty";
	if (memchr(s, '\0', n) != NULL)
		return "contains U+0000";
	/* Every character takes at least one byte: count only if needed. */
	if (limit > 0 && n > limit && utf8_chars(s, n) > limit)
		return "too long";
	return NULL;
}

/* Checks one optional string field; fills *out (NULL str for SQL NULL).
 * Returns NULL or the reject phrase. */
static const char *
text_field(const struct jfields_field *f, const struct text_rule *r,
    struct login_str *out)
{
	const char *why;

	out->str = NULL;
	out->len = 0;
	if (f->type == JF_ABSENT || f->type == JF_NULL)
		return NULL;
	if (f->type != JF_STRING)
		return r->type;
	if ((why = login_check_text(f->str, f->len, r->limit)) != NULL)
		return why[0] == 'e' ? r->empty :
		    why[0] == 'c' ? r->nul : r->toolong;
	out->str = f->str;
	out->len = f->len;
	return NULL;
}

/* Dotted-decimal text of an IPv4 address, as inet_ntop writes it but
 * without its trip through sprintf (a tenth of pii-mask's time). */
static int
ipv4_text(const struct in_addr *a, char *out)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	char *p = out;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (i > 0)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
	return (int)(p - out);
}

int
login_canonical_ip(const char *s, size_t n, char out[LOGIN_IP_MAX])
{
	char text[LOGIN_IP_MAX];
	struct in6_addr a6;
	struct in_addr a4;

	if (n >= sizeof(text))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, &a4) == 1)
		return ipv4_text(&a4, out);
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], 4);
		return ipv4_text(&a4, out);
	}
	/* glibc's inet_ntop writes RFC 5952 text: lowercase, the first
	 * longest run of two or more zero groups compressed. */
	return inet_ntop(AF_INET6, &a6, out, LOGIN_IP_MAX) ?
	    (int)strlen(out) : -1;
}

/* Parses a decimal part (leading zeros allowed: "6.02" is 6.2), at most
 * max. */
static int
version_part(const char **sp, const char *end, long max, long *out)
{
	const char *s = *sp;
	long v = 0;

	if (s == end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*sp = s;
	*out = v;
	return 0;
}

/* A semantic-versioning pre-release or build suffix ("-beta.1",
 * "+45"): a sign, then one or more of [0-9A-Za-z.+-]. */
static int
version_suffix(const char *s, const char *end)
{
	if (s == end)
		return 0;
	if ((*s != '-' && *s != '+') || ++s == end)
		return -1;
	for (; s < end; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == '-' ||
		    *s == '+'))
			return -1;
	return 0;
}

int
login_app_version(const char *s, size_t n, long *out)
{
	const char *end = s + n;
	long part[3] = { 0, 0, 0 };
	int k = 0;

	/* 2146.999.999 is the largest that fits a 32-bit integer column. */
	for (;;) {
		if (version_part(&s, end, k == 0 ? 2146 : 999, &part[k]) < 0)
			return -1;
		if (++k == 3 || s == end || *s != '.')
			break;
		s++;
	}
	if (version_suffix(s, end) < 0)
		return -1;
	*out = part[0] * 1000000 + part[1] * 1000 + part[2];
	return 0;
}

int
login_utc_date(long long ms, char out[11])
{
	struct tm tm;
	time_t t;

	/* 0001-01-01 .. 9999-12-31 23:59:59.999 */
	if (ms < -62135596800000LL || ms > 253402300799999LL)
		return -1;
	t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		return -1;
	return 0;
}

const char *
login_parse(struct jfields_parser *p, const char *body, size_t len,
    struct login *out)
{
	struct jfields_field f[LOGIN_NFIELDS] = { LOGIN_FIELDS };
	enum jfields_error e;

	memset(out, 0, sizeof(*out));
	if ((e = jfields_parse(p, body, len, f, LOGIN_NFIELDS)) != JF_OK)
		return jfields_strerror(e);
	return login_from_fields(f, out);
}

const char *
login_from_fields(const struct jfields_field *f, struct login *out)
{
	struct login_str version;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (f[F_USER_ID].type == JF_ABSENT)
		return "user_id: missing";
	if (f[F_USER_ID].type == JF_NULL)
		return "user_id: null";
	if (f[F_USER_ID].type == JF_NUMBER) {
		/* A JSON integer is stored as its decimal text; a fraction
		 * or an exponent would make one id two texts. */
		const struct jfields_field *u = &f[F_USER_ID];

		size_t i = u->len > 0 && u->str[0] == '-';

		if (i == u->len || u->len > LOGIN_MAX_USER_ID)
			return "user_id: not a string or an integer";
		for (; i < u->len; i++)
			if (u->str[i] < '0' || u->str[i] > '9')
				return "user_id: not a string or an integer";
		out->user_id.str = u->str;
		out->user_id.len = u->len;
	} else if ((why = text_field(&f[F_USER_ID], &text_rules[F_USER_ID],
	    &out->user_id)) != NULL)
		return why;
	if ((why = text_field(&f[F_DEVICE_TYPE], &text_rules[F_DEVICE_TYPE],
	    &out->device_type)) != NULL ||
	    (why = text_field(&f[F_IP], &text_rules[F_IP], &out->ip)) != NULL ||
	    (why = text_field(&f[F_DEVICE_ID], &text_rules[F_DEVICE_ID],
	    &out->device_id)) != NULL ||
	    (why = text_field(&f[F_LOCALE], &text_rules[F_LOCALE],
	    &out->locale)) != NULL ||
	    (why = text_field(&f[F_APP_VERSION], &text_rules[F_APP_VERSION],
	    &version)) != NULL)
		return why;
	if (out->ip.str != NULL) {
		int n = login_canonical_ip(out->ip.str, out->ip.len,
		    out->ip_text);

		/* Not one address ("1.2.3.4, 10.0.0.1", "unknown"): masked
		 * as its exact text, so equal texts still match, and noted
		 * rather than parking the login. */
		if (n < 0)
			out->ip_note = memchr(out->ip.str, ',', out->ip.len) ?
			    LOGIN_NOTE_IP_LIST : LOGIN_NOTE_IP_TEXT;
		else {
			out->ip.str = out->ip_text;
			out->ip.len = (size_t)n;
		}
	}
	if (version.str != NULL) {
		if (login_app_version(version.str, version.len,
		    &out->app_version) < 0)
			return "app_version: not MAJOR[.MINOR[.PATCH]] "
			    "within 2146.999.999";
		out->has_app_version = 1;
	}
	return NULL;
}
