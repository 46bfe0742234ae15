/*
 * backoff.c - retry waits and a millisecond clock.  See backoff.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "backoff.h"

long long
backoff_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

long
backoff_jitter_ms(int attempt, long base_ms, long cap_ms)
{
	long ceiling = base_ms;

	for (int i = 0; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	return (long)arc4random_uniform((uint32_t)ceiling);
}
