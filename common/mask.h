/*
 * mask.h - the secret key and the keyed mask of personal values.
 *
 * mask = lowercase hex of HMAC-SHA256(key, value).  Equal values give
 * equal masks, so duplicates stay identifiable; without the key a mask
 * can be neither reversed nor brute-forced over the small space of IPv4
 * addresses, unlike a hash with a public salt.
 *
 * Reversible masks (--mode siv) are AES-256-SIV, deterministic
 * authenticated encryption (RFC 5297): equal values still give equal
 * masks, and the key holder can get the value back.  The SIV key is
 * derived from the same key file (HMAC of fixed labels), so one file
 * serves both modes without the two ever using the same key.
 * A SIV mask is the base64url text (no padding) of the 16-byte tag
 * followed by the ciphertext, as long as the value.
 *
 * The key lives only inside struct mask_key and is wiped when freed.
 */
#ifndef MASK_H
#define MASK_H

#include <stddef.h>

#define MASK_MIN_KEY 32		/* bytes: the strength of SHA-256 */
#define MASK_MAX_KEY 1024	/* bytes: a sane bound on the file */
#define MASK_HEX_LEN 64		/* characters of a mask, without NUL */

struct mask_key;

/*
 * Reads a key file: hex digits (whitespace ignored) giving at least
 * MASK_MIN_KEY bytes.  The file must not be accessible to group or others.
 * Returns NULL and sets *key, or returns a fixed phrase saying what is
 * wrong (errno is kept for system errors).  Never echoes file contents.
 */
const char *mask_key_load(const char *path, struct mask_key **key);

/* Writes the mask of s[0..n) into out, NUL-terminated.  Returns 0, or -1
 * when the digest library fails. */
int mask_hmac_hex(struct mask_key *key, const char *s, size_t n,
    char out[MASK_HEX_LEN + 1]);

/* Length of the SIV mask of an n-byte value. */
#define MASK_SIV_LEN(n) ((((n) + 16) * 4 + 2) / 3)

/* Prepares AES-256-SIV under the derived key.  Returns 0, or -1 when the
 * cipher library fails (e.g. AES-SIV is not available). */
int mask_siv_init(struct mask_key *key);

/* Writes the SIV mask of s[0..n) into out[0..cap), NUL-terminated.
 * Returns its length, or -1 when it does not fit or the library fails. */
long mask_siv(struct mask_key *key, const char *s, size_t n, char *out,
    size_t cap);

/* Recovers the value of a SIV mask into out[0..cap).  Returns its length,
 * or -1 when text is not a mask made under this key (the tag does not
 * verify) or does not fit. */
long mask_unsiv(struct mask_key *key, const char *text, size_t n, char *out,
    size_t cap);

/* Wipes and frees the key.  NULL is fine. */
void mask_key_free(struct mask_key *key);

#endif
