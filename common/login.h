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

#define LOGIN_MAX_BODY (1024 * 1024)	/* bytes: the SQS message limit */
/* The longest line a stage accepts: an sqs-recv line carrying a body of
 * LOGIN_MAX_BODY in which every byte needed a 6-byte \u escape. */
#define LOGIN_MAX_LINE (6 * LOGIN_MAX_BODY + 65536)
#define LOGIN_MAX_DEPTH 64		/* nesting accepted in a body */
#define LOGIN_MAX_USER_ID 128		/* characters, as in the table */
#define LOGIN_MAX_SHORT 32		/* device_type, locale */

/* A string column: NULL str means SQL NULL. */
struct login_str {
	const char *str;
	size_t len;
};

struct login {
	struct login_str user_id, device_type, ip, device_id, locale;
	int has_app_version;
	long app_version;
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
 * Encodes "MAJOR.MINOR[.PATCH]" as MAJOR*1000000 + MINOR*1000 + PATCH,
 * which keeps order and never collides.  Parts are decimal digits without
 * leading zeros, MINOR and PATCH at most 999, and the result fits a
 * PostgreSQL integer.  Returns 0, or -1 for anything else.
 */
int login_app_version(const char *s, size_t n, long *out);

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
