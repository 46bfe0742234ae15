/*
 * login.h - the user-login record: validating a message body and the
 * rules every stage agrees on for the columns of user_logins.
 *
 * Every reject reason is a fixed phrase naming the field and the rule and
 * never the value, so it can be logged and stored without leaking
 * personal data.
 */
#ifndef LOGIN_H
#define LOGIN_H

#include <stddef.h>

#include "jfields.h"

#define LOGIN_MAX_USER_ID 128		/* characters, as in the table */
#define LOGIN_MAX_SHORT 32		/* device_type, locale */
#define LOGIN_MAX_MASK 256		/* masked_ip, masked_device_id */

/* A string column: NULL str means SQL NULL. */
struct login_str {
	const char *str;
	size_t len;
};

/* Longest canonical address text: an IPv6 address with a dotted tail. */
#define LOGIN_IP_MAX 46

/* What a stored login's values met on the way, for the stats: fixed
 * phrases, like reject reasons. */
#define LOGIN_NOTE_IP_LIST "ip: a list of addresses, masked as its text"
#define LOGIN_NOTE_IP_TEXT "ip: not an address, masked as its text"

struct login {
	struct login_str user_id, device_type, ip, device_id, locale;
	int has_app_version;
	long app_version;
	/* ip.str points into ip_text (the canonical text of one address),
	 * or at the value itself when it is not one address; then ip_note
	 * says which. */
	char ip_text[LOGIN_IP_MAX];
	const char *ip_note;
};

/* The fields of a body, in the order login_from_fields() expects, as an
 * initializer for struct jfields_field[LOGIN_NFIELDS]. */
#define LOGIN_NFIELDS 6
#define LOGIN_FIELDS							\
	JF_FIELD("user_id"), JF_FIELD("device_type"), JF_FIELD("ip"),	\
	JF_FIELD("device_id"), JF_FIELD("locale"), JF_FIELD("app_version")

/*
 * Validates a login body and fills *out (strings point into the parser's
 * arena).  The parser should have been made with JF_UNIQUE_KEYS.  Returns
 * NULL, or the reason the body is rejected.
 */
const char *login_parse(struct jfields_parser *p, const char *body,
    size_t len, struct login *out);

/* The same rules, on fields already parsed (LOGIN_FIELDS, in order). */
const char *login_from_fields(const struct jfields_field *f,
    struct login *out);

/*
 * Encodes "MAJOR[.MINOR[.PATCH]]" as MAJOR*1000000 + MINOR*1000 + PATCH
 * (missing parts are 0), which keeps order.  Parts are decimal digits,
 * leading zeros allowed ("6.02" is 6.2), MINOR and PATCH at most 999, and
 * the result fits a PostgreSQL integer.  A semantic-versioning suffix
 * after the numbers ("-beta.1", "+45") is allowed and left out.  Returns
 * 0, or -1 for anything else.
 */
int login_app_version(const char *s, size_t n, long *out);

/*
 * Writes the canonical text of an IPv4 or IPv6 address into out: IPv4
 * dotted decimal; IPv6 as RFC 5952 says (lowercase, longest run of zero
 * groups compressed); an IPv4-mapped IPv6 address as its IPv4 form.  So
 * one address written two ways is one identity.  Returns the length, or
 * -1 when s[0..n) is not an address (inet_pton's grammar: no zone, no
 * leading zeros in IPv4 parts, no spaces).
 */
int login_canonical_ip(const char *s, size_t n, char out[LOGIN_IP_MAX]);

/*
 * Checks a string bound for a varchar(limit) column: non-empty, no
 * U+0000, at most limit characters.  Returns NULL or the rule broken
 * ("empty", "contains U+0000", "too long").
 */
const char *login_check_text(const char *s, size_t n, size_t limit);

/* Formats the UTC date of ms milliseconds since the epoch as YYYY-MM-DD.
 * Returns 0, or -1 when the date is outside years 1..9999. */
int login_utc_date(long long ms, char out[11]);

#endif
