/*
 * test_ledger.c - ledger keys: the layout of ledger.h, byte for byte,
 * against values computed independently (Python's hashlib).
 */
#include <string.h>

#include "check.h"
#include "ledger.h"

static void
hex(const unsigned char *k, char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < LEDGER_KEY_LEN; i++) {
		out[2 * i] = digits[k[i] >> 4];
		out[2 * i + 1] = digits[k[i] & 15];
	}
	out[32] = '\0';
}

static int
key_is(const char *id, long long sent, long long before, const char *want)
{
	unsigned char k[LEDGER_KEY_LEN];
	char text[33];

	ledger_key(id, strlen(id), sent, before, k);
	hex(k, text);
	if (strcmp(text, want) != 0)
		fprintf(stderr, "key of %s at %lld: %s\n", id, sent, text);
	return strcmp(text, want) == 0;
}

int
main(void)
{
	unsigned char k[LEDGER_KEY_LEN], l[LEDGER_KEY_LEN];
	char text[33];

	/* 6 bytes of milliseconds, 10 of SHA-256("m1"). */
	CHECK(key_is("m1", 1700000000123LL, 0,
	    "018bcfe5687b" "ca0df2c95aa144c1d0ff"));
	/* Sent before a 0.2 ledger was converted: the second only. */
	CHECK(key_is("m1", 1700000000123LL, 1700000000124LL,
	    "018bcfe56800" "ca0df2c95aa144c1d0ff"));
	CHECK(key_is("m1", 1700000000123LL, 1700000000123LL,
	    "018bcfe5687b" "ca0df2c95aa144c1d0ff"));
	/* Unknown sending time: prefix 0, never pruned. */
	CHECK(key_is("m1", -1, 0, "000000000000" "ca0df2c95aa144c1d0ff"));
	/* Same time, another id: another key; same id, same key. */
	ledger_key("m2", 2, 1700000000123LL, 0, k);
	ledger_key("m2", 2, 1700000000123LL, 0, l);
	CHECK(memcmp(k, l, LEDGER_KEY_LEN) == 0);
	hex(k, text);
	CHECK(strncmp(text, "018bcfe5687b", 12) == 0);
	CHECK(strcmp(text + 12, "ca0df2c95aa144c1d0ff") != 0);
	/* Keys sort by time first: a later message, a greater key. */
	ledger_key("zzz", 3, 1700000000124LL, 0, l);
	CHECK(memcmp(k, l, LEDGER_KEY_LEN) < 0);
	/* The pruning bound: the time, then zeros; clamped to 6 bytes. */
	ledger_key_of_time(1700000000123LL, k);
	hex(k, text);
	CHECK(strcmp(text, "018bcfe5687b00000000000000000000") == 0);
	ledger_key_of_time(-5, k);
	hex(k, text);
	CHECK(strcmp(text, "00000000000000000000000000000000") == 0);
	ledger_key_of_time(1LL << 50, k);
	hex(k, text);
	CHECK(strcmp(text, "ffffffffffff00000000000000000000") == 0);
	return check_done("test_ledger");
}
