/*
 * ledger.h - the key under which pg-load files a stored message in
 * user_logins_ledger.
 *
 * A key is 16 bytes, kept as a PostgreSQL uuid (compact, compared as
 * bytes):
 *
 *   bytes 0-5    the message's SentTimestamp in milliseconds, big-endian
 *                (0 when unknown)
 *   bytes 6-15   the first 10 bytes of SHA-256 of the message id
 *
 * Both halves are fixed for the life of a message: SQS never changes a
 * message's id or SentTimestamp when it delivers it again, so a
 * redelivery has the same key.  Two different messages share a key only
 * if they were sent in the same millisecond and their ids agree in 80
 * bits of SHA-256: at 100,000 messages a second, about once in ten
 * billion years.
 *
 * The time prefix is what keeps the ledger cheap: keys of messages sent
 * close together sit together in the index, so a live queue files its
 * keys at the index's right edge, and old keys form one range that
 * pruning deletes without reading anything else.
 *
 * A ledger converted from the 0.2 layout knew only the second of each
 * message.  Messages sent before the conversion (before_ms) keep that
 * second in their key, its milliseconds zero, so that their redeliveries
 * find the converted entries; pass before_ms 0 when nothing was
 * converted.
 */
#ifndef LEDGER_H
#define LEDGER_H

#include <stddef.h>

#define LEDGER_KEY_LEN 16

/* The key of message id[0..n) sent at sent_ms (ms since the epoch, or
 * negative when unknown). */
void ledger_key(const char *id, size_t n, long long sent_ms,
    long long before_ms, unsigned char key[LEDGER_KEY_LEN]);

/* The smallest key of the messages sent at or after ms: the bound below
 * which pruning deletes. */
void ledger_key_of_time(long long ms, unsigned char key[LEDGER_KEY_LEN]);

#endif
