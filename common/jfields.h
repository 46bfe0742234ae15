/*
 * jfields.h - pick named fields out of one JSON object, in one streaming
 * pass (yajl callbacks: no tree is built, nothing recurses).
 *
 * A caller lists the fields it wants; jfields_parse() fills in the type
 * and value of each one it meets and validates everything else only as
 * JSON.  It is strict where the data matters:
 * - the text must be well-formed UTF-8 (utf8.h), and \u escapes must not
 *   leave a lone surrogate (yajl would quietly turn one into '?');
 * - a wanted field repeated in its parent is an error rather than "last
 *   one wins", and so is any key repeated in the top-level object when the
 *   parser was made with JF_UNIQUE_KEYS;
 * - nesting deeper than the parser's limit is an error.
 *
 * Ownership: strings handed out (str) point into the parser's own arena
 * and stay valid until the next jfields_parse() or jfields_free() on it.
 */
#ifndef JFIELDS_H
#define JFIELDS_H

#include <stddef.h>

#include "strset.h"

enum jfields_type {
	JF_ABSENT,
	JF_NULL,
	JF_BOOL,
	JF_NUMBER,	/* str holds the number's text as written */
	JF_STRING,	/* str holds the decoded bytes; they may contain NUL */
	JF_OBJECT,
	JF_ARRAY,
};

enum jfields_error {
	JF_OK,
	JF_EUTF8,	/* not well-formed UTF-8 */
	JF_ESURROGATE,	/* a \u escape leaves half a surrogate pair */
	JF_ESYNTAX,	/* not JSON */
	JF_ENOTOBJECT,	/* JSON, but not an object */
	JF_EDUPKEY,	/* a key appears twice */
	JF_EDEPTH,	/* nested deeper than the limit */
	JF_ENOMEM,
};

struct jfields_field {
	const char *parent;	/* NULL: key of the top-level object; else the
				 * top-level key whose object holds this one */
	const char *key;
	size_t parent_len, key_len;
	enum jfields_type type;	/* set by jfields_parse */
	const char *str;	/* JF_STRING, JF_NUMBER: the value ... */
	size_t len;		/* ... and its length in bytes */
};

/* Initializers naming a wanted field by string literals, lengths included
 * (so no parse measures them again). */
#define JF_FIELD(k) { .key = k, .key_len = sizeof(k) - 1 }
#define JF_CHILD(p, k) { .parent = p, .parent_len = sizeof(p) - 1,	\
	.key = k, .key_len = sizeof(k) - 1 }

/* Flags for jfields_init. */
#define JF_UNIQUE_KEYS 1	/* every top-level key, wanted or not, once */

#define JF_FEW_KEYS 16

struct jfields_parser {
	unsigned max_depth;
	int flags;
	char *arena;		/* copies of strings, numbers and keys */
	size_t arena_cap, arena_len;
	/* Top-level keys seen, with JF_UNIQUE_KEYS: the first few in a list
	 * (a login has six; comparing is cheaper than hashing them), the
	 * rest, if an object has more, in a hash set. */
	struct { const char *s; size_t n; } few[JF_FEW_KEYS];
	size_t nkeys;
	struct strset keys;
	void *spare[8];		/* blocks yajl freed, kept for its next parse */
	size_t nspare;
	/* state of the parse under way */
	struct jfields_field *fields;
	size_t nfields;
	unsigned depth;
	struct jfields_field *pending;	/* field whose value comes next */
	int has_parents;	/* some wanted field is nested */
	const char *candidate;	/* last top-level key, if a wanted parent */
	const char *parent;	/* wanted parent object now open, or NULL */
	size_t parent_len;
	enum jfields_error error;
};

/* Prepares a parser that refuses nesting deeper than max_depth levels;
 * flags is 0 or JF_UNIQUE_KEYS. */
void jfields_init(struct jfields_parser *p, unsigned max_depth, int flags);

/* Parses text[0..len) and fills fields[0..n).  Fields not present are
 * JF_ABSENT.  Returns JF_OK or the first error found. */
enum jfields_error jfields_parse(struct jfields_parser *p, const char *text,
    size_t len, struct jfields_field *fields, size_t n);

/* A fixed phrase for an error, with no input data in it. */
const char *jfields_strerror(enum jfields_error e);

void jfields_free(struct jfields_parser *p);

#endif
