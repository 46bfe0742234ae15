/*
 * backoff.h - the waiting of retry loops: exponential backoff with full
 * jitter (AWS's advice: spread the retries of many clients over the whole
 * interval instead of synchronising them), and a monotonic clock in
 * milliseconds to time deadlines against.
 */
#ifndef BACKOFF_H
#define BACKOFF_H

/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines only. */
long long backoff_now_ms(void);

/* A random wait in [0, min(cap_ms, base_ms * 2^attempt)), in ms. */
long backoff_jitter_ms(int attempt, long base_ms, long cap_ms);

#endif
