/*
 * outage.c - a service's ups and downs as its callers see them.  See
 * outage.h.
 */
#include <stddef.h>

#include "backoff.h"
#include "outage.h"

void
outage_retry(struct outage *o, int away, const char *why)
{
	if (o == NULL)
		return;
	atomic_fetch_add(&o->retries, 1);
	/* Only the caller that flips the flag tells: one line per outage,
	 * however many callers fail at once. */
	if (away && atomic_exchange(&o->down, 1) == 0) {
		atomic_store(&o->since_ms, backoff_now_ms());
		atomic_store(&o->retries_then, atomic_load(&o->retries) - 1);
		atomic_fetch_add(&o->outages, 1);
		if (o->report != NULL)
			o->report(o, 1, why);
	}
}

void
outage_answered(struct outage *o)
{
	if (o != NULL && atomic_load(&o->down) &&
	    atomic_exchange(&o->down, 0) == 1 && o->report != NULL)
		o->report(o, 0, NULL);
}

long long
outage_length_ms(const struct outage *o)
{
	return backoff_now_ms() - atomic_load(&o->since_ms);
}
