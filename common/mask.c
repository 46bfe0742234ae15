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
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "mask.h"

#define SHA256_BLOCK 64
#define SHA256_LEN 32

#define SIV_TAG 16

struct mask_key {
	/* SHA-256 states after the inner and outer HMAC pads: computed
	 * once, copied per value, so a mask costs two short digests. */
	SHA256_CTX inner, outer;
	EVP_CIPHER *siv;	/* AES-256-SIV, after mask_siv_init */
	EVP_CIPHER_CTX *enc, *dec;
	/* OpenSSL 3.0 cannot restart SIV without the key: kept for that. */
	unsigned char siv_key[2 * SHA256_LEN];
};

void
mask_key_free(struct mask_key *key)
{
	if (key == NULL)
		return;
	/* The cipher contexts wipe their key schedules when freed. */
	EVP_CIPHER_CTX_free(key->enc);
	EVP_CIPHER_CTX_free(key->dec);
	EVP_CIPHER_free(key->siv);
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

/* HMAC-SHA256(key, s[0..n)) into out. */
static int
hmac(struct mask_key *key, const void *s, size_t n,
    unsigned char out[SHA256_LEN])
{
	unsigned char ih[SHA256_LEN];
	SHA256_CTX c = key->inner;
	int ok;

	ok = SHA256_Update(&c, s, n) && SHA256_Final(ih, &c);
	c = key->outer;
	ok = ok && SHA256_Update(&c, ih, sizeof(ih)) && SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	return ok ? 0 : -1;
}

int
mask_hmac_hex(struct mask_key *key, const char *s, size_t n,
    char out[MASK_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char oh[SHA256_LEN];

	if (hmac(key, s, n, oh) < 0)
		return -1;
	for (int i = 0; i < SHA256_LEN; i++) {
		out[2 * i] = hex[oh[i] >> 4];
		out[2 * i + 1] = hex[oh[i] & 0xf];
	}
	out[MASK_HEX_LEN] = '\0';
	return 0;
}

int
mask_siv_init(struct mask_key *key)
{
	static const char label1[] = "fetch-awards AES-SIV key, part 1";
	static const char label2[] = "fetch-awards AES-SIV key, part 2";
	unsigned char *k = key->siv_key;

	if (key->enc != NULL)
		return 0;
	return hmac(key, label1, sizeof(label1) - 1, k) == 0 &&
	    hmac(key, label2, sizeof(label2) - 1, k + SHA256_LEN) == 0 &&
	    (key->siv = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL)) != NULL &&
	    EVP_CIPHER_get_key_length(key->siv) == (int)sizeof(key->siv_key) &&
	    (key->enc = EVP_CIPHER_CTX_new()) != NULL &&
	    (key->dec = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_EncryptInit_ex2(key->enc, key->siv, k, NULL, NULL) &&
	    EVP_DecryptInit_ex2(key->dec, key->siv, k, NULL, NULL) ? 0 : -1;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out must hold ((n * 4 + 2) / 3) + 1. */
static size_t
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 | in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)in[i] << 16 |
		    (i + 1 < n ? in[i + 1] << 8 : 0);

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

/* Decodes base64url without padding; returns bytes, or -1. */
static long
b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	unsigned long v = 0;
	size_t o = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i] ? memchr(b64url, in[i], 64) : NULL;

		if (p == NULL)
			return -1;
		v = v << 6 | (unsigned long)(p - b64url);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	/* Leftover bits must be zero, or two texts would decode alike. */
	if (v & ((1UL << bits) - 1))
		return -1;
	return (long)o;
}

long
mask_siv(struct mask_key *key, const char *s, size_t n, char *out,
    size_t cap)
{
	unsigned char buf[SIV_TAG + 1024];
	int len, fin;

	if (key->enc == NULL || n > sizeof(buf) - SIV_TAG ||
	    MASK_SIV_LEN(n) + 1 > cap)
		return -1;
	if (!EVP_EncryptInit_ex2(key->enc, NULL, key->siv_key, NULL, NULL) ||
	    !EVP_EncryptUpdate(key->enc, buf + SIV_TAG, &len,
	    (const unsigned char *)s, (int)n) ||
	    !EVP_EncryptFinal_ex(key->enc, buf + SIV_TAG + len, &fin) ||
	    !EVP_CIPHER_CTX_ctrl(key->enc, EVP_CTRL_AEAD_GET_TAG, SIV_TAG,
	    buf))
		return -1;
	len = (int)b64_encode(buf, SIV_TAG + n, out);
	OPENSSL_cleanse(buf, sizeof(buf));
	return len;
}

long
mask_unsiv(struct mask_key *key, const char *text, size_t n, char *out,
    size_t cap)
{
	unsigned char buf[SIV_TAG + 1024];
	long raw;
	int len, fin;

	if (key->dec == NULL ||
	    (raw = b64_decode(text, n, buf, sizeof(buf))) < SIV_TAG ||
	    (size_t)raw - SIV_TAG > cap)
		return -1;
	if (!EVP_DecryptInit_ex2(key->dec, NULL, key->siv_key, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(key->dec, EVP_CTRL_AEAD_SET_TAG, SIV_TAG,
	    buf) ||
	    !EVP_DecryptUpdate(key->dec, (unsigned char *)out, &len,
	    buf + SIV_TAG, (int)(raw - SIV_TAG)) ||
	    !EVP_DecryptFinal_ex(key->dec, (unsigned char *)out + len, &fin)) {
		OPENSSL_cleanse(out, cap);
		return -1;
	}
	return len + fin;
}
