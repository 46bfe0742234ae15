/*
 * mask.c - the secret key and the keyed mask.  See mask.h.
 *
 * HMAC is computed from SHA-256 states saved after the padded key, as
 * RFC 2104 allows.  The states are plain SHA256_CTX structs copied by
 * value: OpenSSL 3 marks that interface deprecated, but its EVP
 * replacement allocates on every context copy, which at a million masks a
 * second costs more than the hashing.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* SHA256_CTX: see above */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "mask.h"

#define SHA256_BLOCK 64
#define SHA256_LEN 32

struct mask_key {
	/* SHA-256 states after the inner and outer HMAC pads: computed
	 * once, copied per value, so a mask costs two short digests. */
	SHA256_CTX inner, outer;
};

void
mask_key_free(struct mask_key *key)
{
	if (key == NULL)
		return;
	OPENSSL_cleanse(key, sizeof(*key));
	free(key);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex text, skipping whitespace.  Returns bytes, or -1. */
static long
unhex(const char *text, size_t n, unsigned char *out, size_t cap)
{
	size_t len = 0;
	int half = -1;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (isspace((unsigned char)text[i]))
			continue;
		if ((v = hexval((unsigned char)text[i])) < 0)
			return -1;
		if (half < 0) {
			half = v;
			continue;
		}
		if (len == cap)
			return -1;
		out[len++] = (unsigned char)(half << 4 | v);
		half = -1;
	}
	return half < 0 ? (long)len : -1;
}

/* Builds the two padded states from the raw key. */
static int
key_setup(struct mask_key *key, const unsigned char *raw, size_t len)
{
	unsigned char block[SHA256_BLOCK], pad[SHA256_BLOCK];
	int ok = 0;

	memset(block, 0, sizeof(block));
	if (len > SHA256_BLOCK) {	/* RFC 2104: long keys are hashed */
		if (SHA256(raw, len, block) == NULL)
			goto out;
	} else
		memcpy(block, raw, len);
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	if (!SHA256_Init(&key->inner) ||
	    !SHA256_Update(&key->inner, pad, sizeof(pad)))
		goto out;
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	if (!SHA256_Init(&key->outer) ||
	    !SHA256_Update(&key->outer, pad, sizeof(pad)))
		goto out;
	ok = 1;
out:
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(pad, sizeof(pad));
	return ok;
}

const char *
mask_key_load(const char *path, struct mask_key **keyp)
{
	char text[MASK_MAX_KEY * 2 + 64];
	unsigned char raw[MASK_MAX_KEY];
	struct mask_key *key = NULL;
	const char *why = NULL;
	struct stat st;
	ssize_t n;
	long len;
	int fd, saved;

	*keyp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return "cannot open";
	if (fstat(fd, &st) < 0) {
		why = "cannot stat";
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		why = "accessible to group or others (chmod 600 it)";
		goto out;
	}
	if ((n = read(fd, text, sizeof(text))) < 0) {
		why = "cannot read";
		goto out;
	}
	if ((size_t)n == sizeof(text)) {
		why = "too large for a key";
		goto out;
	}
	if ((len = unhex(text, (size_t)n, raw, sizeof(raw))) < 0) {
		why = "not an even number of hex digits";
		goto out;
	}
	if (len < MASK_MIN_KEY) {
		why = "key shorter than 32 bytes (64 hex digits)";
		goto out;
	}
	if ((key = calloc(1, sizeof(*key))) == NULL) {
		why = "out of memory";
		goto out;
	}
	if (!key_setup(key, raw, (size_t)len)) {
		why = "digest library failed";
		goto out;
	}
	*keyp = key;
	key = NULL;
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(raw, sizeof(raw));
	mask_key_free(key);
	saved = errno;		/* a failed read's errno outlives close */
	close(fd);
	errno = saved;
	return why;
}

int
mask_hmac_hex(struct mask_key *key, const char *s, size_t n,
    char out[MASK_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ih[SHA256_LEN], oh[SHA256_LEN];
	SHA256_CTX c = key->inner;
	int ok;

	ok = SHA256_Update(&c, s, n) && SHA256_Final(ih, &c);
	c = key->outer;
	ok = ok && SHA256_Update(&c, ih, sizeof(ih)) && SHA256_Final(oh, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	if (!ok)
		return -1;
	for (int i = 0; i < SHA256_LEN; i++) {
		out[2 * i] = hex[oh[i] >> 4];
		out[2 * i + 1] = hex[oh[i] & 0xf];
	}
	out[MASK_HEX_LEN] = '\0';
	return 0;
}
