/*
 * store_int.h - what the files of the store share, and nothing else
 * includes: the batch's items, how a statement failed, the connection's
 * state, and the steps of one attempt (store.h for the whole).
 *
 * Errors: every step returns an enum outcome and leaves the message in
 * s->err (store_set_error); none exits or prints.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "ledger.h"
#include "obuf.h"
#include "store.h"
#include "strset.h"

#define NONE ((size_t)-1)	/* offset of a NULL string */

enum fate {
	PENDING,	/* a row to store */
	DUPLICATE,	/* its message is stored already, or earlier in the batch */
	STORED,
	REFUSED,	/* the server refused the row */
	REJECTED,	/* pii-mask rejected it */
};

struct store_item {
	size_t mid, mid_len;	/* message id in text, or NONE */
	size_t rh, rh_len;	/* receipt handle in text, or NONE */
	long long sent;
	long receive_count;
	size_t tup, tup_len;	/* binary COPY tuple in data; 0 for rejects */
	size_t reason, reason_len;	/* in reasons */
	size_t line, line_len;	/* a reject's line, in text */
	int is_reject;
	enum fate fate;
	unsigned char key[LEDGER_KEY_LEN];	/* ledger key, with a message id */
};

/* How a statement failed. */
enum outcome {
	OK,
	ROW_ERROR,	/* the data of a row: isolate it */
	RETRY,		/* the connection or the moment: redo the batch */
	CONFLICT,	/* a key was filed already: look keys up, file again */
	FATAL,		/* the schema or the setup: stop */
};

struct store {
	PGconn *conn;
	struct store_options o;
	int prepared;		/* statements prepared on this connection */
	int probe_all;		/* look every key up (see attempt()) */
	long long before_ms;	/* second keys before this (ledger.h) */
	struct store_batch *b;	/* the batch being stored */
	struct strset ids;	/* message id -> item, per attempt */
	size_t *order;		/* items with ids, by ledger key */
	size_t norder;
	struct obuf p1;		/* a statement parameter being built */
	struct obuf ledger_rows;	/* binary COPY rows for the ledger */
	char err[512];
};

/* The ledger's statements (storeledger.c), prepared by store.c. */
extern const char store_probe_sql[], store_unclaim_sql[], store_meta_sql[];

/* Errors and statements (store.c). */
void store_set_error(struct store *s, const char *what, const PGresult *res);
enum outcome store_classify(struct store *s, const PGresult *res);
enum outcome store_run(struct store *s, const char *what, const char *sql);
/* Judges a statement's result: OK, handing it over in *out (or clearing
 * it when out is NULL); or how it failed, with the message in s->err, a
 * row's fault counting as FATAL (these statements carry no row of ours). */
enum outcome store_result(struct store *s, const char *what, PGresult *res,
    PGresult **out);
enum outcome store_exec_prepared(struct store *s, const char *name,
    const char *what, int n, const char *const *params, PGresult **out);

/* Binary COPY of rows (storerows.c).  store_copy_start() returns NULL
 * when tuples can follow, else the failed result; store_copy_end() the
 * command's result; both to be cleared by the caller. */
PGresult *store_copy_start(struct store *s, const char *sql);
PGresult *store_copy_end(struct store *s);
/* Stores the rows of items idx[0..n), isolating refused ones. */
enum outcome store_rows(struct store *s, const size_t *idx, size_t n);
void store_batch_clear(struct store_batch *b);

/* The ledger (storeledger.c): order the batch's messages by key (marking
 * repeats in the batch), look up those worth it, file the keys of the
 * pending rows, and take back those of rows the server refused. */
int store_ledger_order(struct store *s);
enum outcome store_ledger_probe(struct store *s);
enum outcome store_ledger_claim(struct store *s);
enum outcome store_ledger_unclaim(struct store *s);

#endif
