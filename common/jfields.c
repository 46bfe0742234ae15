/*
 * jfields.c - pick named fields out of one JSON object.  See jfields.h.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "jfields.h"
#include "strset.h"
#include "utf8.h"

void
jfields_init(struct jfields_parser *p, unsigned max_depth, int flags)
{
	memset(p, 0, sizeof(*p));
	p->max_depth = max_depth;
	p->flags = flags;
}

/*
 * yajl allocates its handle, lexer and buffers afresh for every parse.
 * These functions keep the blocks it frees (up to a small size) and hand
 * them back on the next parse, so parsing a line costs no malloc.  Each
 * block carries its size in a header.
 */
#define SPARE_MAX 65536		/* larger blocks go back to malloc */

union block_header {
	size_t size;
	max_align_t align;
};

static void *
pool_malloc(void *ctx, size_t size)
{
	struct jfields_parser *p = ctx;
	union block_header *h;

	for (size_t i = p->nspare; i-- > 0;) {
		h = p->spare[i];
		if (h->size >= size) {
			p->spare[i] = p->spare[--p->nspare];
			return h + 1;
		}
	}
	if ((h = malloc(sizeof(*h) + size)) == NULL)
		return NULL;
	h->size = size;
	return h + 1;
}

static void
pool_free(void *ctx, void *ptr)
{
	struct jfields_parser *p = ctx;
	union block_header *h;

	if (ptr == NULL)
		return;
	h = (union block_header *)ptr - 1;
	if (h->size <= SPARE_MAX &&
	    p->nspare < sizeof(p->spare) / sizeof(p->spare[0]))
		p->spare[p->nspare++] = h;
	else
		free(h);
}

static void *
pool_realloc(void *ctx, void *ptr, size_t size)
{
	union block_header *h;
	void *q;

	if (ptr == NULL)
		return pool_malloc(ctx, size);
	h = (union block_header *)ptr - 1;
	if (h->size >= size)
		return ptr;
	if ((q = pool_malloc(ctx, size)) == NULL)
		return NULL;
	memcpy(q, ptr, h->size);
	pool_free(ctx, ptr);
	return q;
}

void
jfields_free(struct jfields_parser *p)
{
	free(p->arena);
	strset_free(&p->keys);
	while (p->nspare > 0)
		free(p->spare[--p->nspare]);
	memset(p, 0, sizeof(*p));
}

const char *
jfields_strerror(enum jfields_error e)
{
	switch (e) {
	case JF_OK:		return "no error";
	case JF_EUTF8:		return "not valid UTF-8";
	case JF_ESURROGATE:	return "escape leaves an unpaired surrogate";
	case JF_ESYNTAX:	return "not JSON";
	case JF_ENOTOBJECT:	return "not a JSON object";
	case JF_EDUPKEY:	return "duplicated key";
	case JF_EDEPTH:		return "nested too deeply";
	case JF_ENOMEM:		return "out of memory";
	}
	return "unknown error";
}

/* Value of 4 hex digits at s, or -1. */
static long
hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Returns 0 when a \u escape in s[0..n) is half a surrogate pair.
 * Backslashes are legal only inside strings, so no string tracking is
 * needed: walking from one backslash to the next, each escape is taken
 * whole, so an escaped backslash never passes for the start of a \u.
 * Malformed escapes pass here and fail in the parser.
 */
static int
surrogates_paired(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		long u;

		if (end - p < 6 || p[1] != 'u' || (u = hex4(p + 2)) < 0) {
			p += 2;
			if (p >= end)
				break;
			continue;
		}
		p += 6;
		if (u >= 0xdc00 && u <= 0xdfff)
			return 0;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
				return 0;
			u = hex4(p + 2);
			if (u < 0xdc00 || u > 0xdfff)
				return 0;
			p += 6;
		}
	}
	return 1;
}

/* Copies n bytes into the arena.  The arena is sized before the parse to
 * the text's length, which no copy of parts of it can exceed. */
static const char *
keep(struct jfields_parser *p, const unsigned char *s, size_t n)
{
	char *dst;

	if (p->arena_cap - p->arena_len < n) {
		p->error = JF_ENOMEM;
		return NULL;
	}
	dst = p->arena + p->arena_len;
	memcpy(dst, s, n);
	p->arena_len += n;
	return dst;
}

/* Records a top-level key; 0 when new, 1 when already seen, -1 no memory.
 * The list and the set point at the arena's copy of each key. */
static int
keys_add(struct jfields_parser *p, const unsigned char *k, size_t n)
{
	const char *copy = keep(p, k, n);
	int r;

	if (copy == NULL)
		return -1;
	if (p->nkeys < JF_FEW_KEYS) {
		for (size_t i = 0; i < p->nkeys; i++)
			if (p->few[i].n == n && memcmp(p->few[i].s, copy, n) == 0)
				return 1;
		p->few[p->nkeys].s = copy;
		p->few[p->nkeys++].n = n;
		return 0;
	}
	if (p->nkeys++ == JF_FEW_KEYS) {
		/* One object too many for the list: the set takes over. */
		strset_clear(&p->keys);
		for (size_t i = 0; i < JF_FEW_KEYS; i++)
			if (strset_add(&p->keys, p->few[i].s, p->few[i].n, 0,
			    NULL) < 0)
				return -1;
	}
	r = strset_add(&p->keys, copy, n, 0, NULL);
	return r < 0 ? -1 : r == 0;
}

/* Wanted field named by key k[0..n) under the open parent, or NULL. */
static struct jfields_field *
wanted(struct jfields_parser *p, const unsigned char *k, size_t n)
{
	for (size_t i = 0; i < p->nfields; i++) {
		struct jfields_field *f = &p->fields[i];

		if (f->key_len != n || f->key[0] != k[0] ||
		    memcmp(f->key, k, n) != 0)
			continue;
		if (p->depth == 1 && f->parent == NULL)
			return f;
		if (p->depth == 2 && f->parent != NULL && p->parent != NULL &&
		    f->parent_len == p->parent_len &&
		    memcmp(f->parent, p->parent, p->parent_len) == 0)
			return f;
	}
	return NULL;
}

/* Is k[0..n) the parent of some wanted field? */
static int
is_parent(const struct jfields_parser *p, const unsigned char *k, size_t n)
{
	for (size_t i = 0; i < p->nfields; i++) {
		const struct jfields_field *f = &p->fields[i];

		if (f->parent != NULL && f->parent_len == n &&
		    memcmp(f->parent, k, n) == 0)
			return 1;
	}
	return 0;
}

/* Takes the value that comes next for the pending field, if any.
 * Returns 0 to stop the parse. */
static int
take(struct jfields_parser *p, enum jfields_type t, const unsigned char *s,
    size_t n)
{
	struct jfields_field *f = p->pending;

	p->pending = NULL;
	if (p->depth == 0 && t != JF_OBJECT) {
		p->error = JF_ENOTOBJECT;
		return 0;
	}
	if (f == NULL)
		return 1;
	if (f->type != JF_ABSENT) {
		p->error = JF_EDUPKEY;
		return 0;
	}
	f->type = t;
	if (s != NULL) {
		if ((f->str = keep(p, s, n)) == NULL)
			return 0;
		f->len = n;
	}
	return 1;
}

static int
on_null(void *ctx)
{
	return take(ctx, JF_NULL, NULL, 0);
}

static int
on_bool(void *ctx, int b)
{
	(void)b;
	return take(ctx, JF_BOOL, NULL, 0);
}

static int
on_number(void *ctx, const char *s, size_t n)
{
	return take(ctx, JF_NUMBER, (const unsigned char *)s, n);
}

static int
on_string(void *ctx, const unsigned char *s, size_t n)
{
	return take(ctx, JF_STRING, s, n);
}

static int
open_container(struct jfields_parser *p, enum jfields_type t)
{
	if (!take(p, t, NULL, 0))
		return 0;
	if (++p->depth > p->max_depth) {
		p->error = JF_EDEPTH;
		return 0;
	}
	return 1;
}

static int
on_start_map(void *ctx)
{
	struct jfields_parser *p = ctx;

	if (!open_container(p, JF_OBJECT))
		return 0;
	/* The object of a top-level key that names a wanted parent. */
	if (p->depth == 2)
		p->parent = p->candidate;
	return 1;
}

static int
on_start_array(void *ctx)
{
	return open_container(ctx, JF_ARRAY);
}

static int
on_end(void *ctx)
{
	struct jfields_parser *p = ctx;

	if (--p->depth < 2)
		p->parent = NULL;
	return 1;
}

static int
on_map_key(void *ctx, const unsigned char *k, size_t n)
{
	struct jfields_parser *p = ctx;

	if (p->depth == 1) {
		if (p->flags & JF_UNIQUE_KEYS) {
			int r = keys_add(p, k, n);

			if (r != 0) {
				p->error = r < 0 ? JF_ENOMEM : JF_EDUPKEY;
				return 0;
			}
		}
		p->candidate = NULL;
		if (p->has_parents && is_parent(p, k, n)) {
			if ((p->candidate = keep(p, k, n)) == NULL)
				return 0;
			p->parent_len = n;
		}
	}
	p->pending = p->depth <= 2 ? wanted(p, k, n) : NULL;
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_bool,
	.yajl_number = on_number,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

enum jfields_error
jfields_parse(struct jfields_parser *p, const char *text, size_t len,
    struct jfields_field *fields, size_t n)
{
	yajl_handle h;
	yajl_status st;

	p->has_parents = 0;
	for (size_t i = 0; i < n; i++) {
		fields[i].type = JF_ABSENT;
		fields[i].str = NULL;
		fields[i].len = 0;
		p->has_parents |= fields[i].parent != NULL;
	}
	if (!utf8_valid(text, len))
		return JF_EUTF8;
	if (!surrogates_paired(text, len))
		return JF_ESURROGATE;
	if (p->arena_cap < len) {
		char *a = realloc(p->arena, len);

		if (a == NULL)
			return JF_ENOMEM;
		p->arena = a;
		p->arena_cap = len;
	}
	p->arena_len = 0;
	p->nkeys = 0;
	p->fields = fields;
	p->nfields = n;
	p->depth = 0;
	p->pending = NULL;
	p->parent = p->candidate = NULL;
	p->error = JF_OK;

	yajl_alloc_funcs pool = { pool_malloc, pool_realloc, pool_free, p };

	if ((h = yajl_alloc(&callbacks, &pool, p)) == NULL)
		return JF_ENOMEM;
	/* Already checked, and more strictly than yajl would. */
	yajl_config(h, yajl_dont_validate_strings, 1);
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (st == yajl_status_ok)
		return JF_OK;
	if (st == yajl_status_client_canceled && p->error != JF_OK)
		return p->error;
	return JF_ESYNTAX;
}
