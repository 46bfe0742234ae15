/*
 * ledger.c - ledger keys.  See ledger.h.
 */
/* SHA256_Init and friends: OpenSSL 3 marks them deprecated, but its EVP
 * one-shot fetches the algorithm under a lock at every call, which cost
 * more here than the hash itself (mask.c does the same). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <string.h>

#include <openssl/sha.h>

#include "ledger.h"

#define TIME_BYTES 6
#define MAX_MS 0xffffffffffffLL		/* 6 bytes: the year 10889 */

void
ledger_key_of_time(long long ms, unsigned char key[LEDGER_KEY_LEN])
{
	if (ms < 0)
		ms = 0;
	if (ms > MAX_MS)
		ms = MAX_MS;
	memset(key, 0, LEDGER_KEY_LEN);
	for (int i = TIME_BYTES - 1; i >= 0; i--, ms >>= 8)
		key[i] = (unsigned char)(ms & 0xff);
}

void
ledger_key(const char *id, size_t n, long long sent_ms, long long before_ms,
    unsigned char key[LEDGER_KEY_LEN])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;

	if (sent_ms >= 0 && sent_ms < before_ms)
		sent_ms -= sent_ms % 1000;	/* a 0.2 key: the second */
	ledger_key_of_time(sent_ms, key);
	SHA256_Init(&c);
	SHA256_Update(&c, id, n);
	SHA256_Final(md, &c);
	memcpy(key + TIME_BYTES, md, LEDGER_KEY_LEN - TIME_BYTES);
}
