/*
 * mask.h - the secret key and the keyed mask of personal values.
 *
 * mask = lowercase hex of HMAC-SHA256(key, value).  Equal values give
 * equal masks, so duplicates stay identifiable; without the key a mask
 * can be neither reversed nor brute-forced over the small space of IPv4
 * addresses, unlike a hash with a public salt.
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

/* Wipes and frees the key.  NULL is fine. */
void mask_key_free(struct mask_key *key);

#endif
