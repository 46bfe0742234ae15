/*
 * idset.h - the message ids a tool handled lately, in bounded memory.
 *
 * Two generations of an open-addressing table of 64-bit hashes of the
 * ids, each with the time it was added; when the newer generation is
 * half full it becomes the older one, and the older is forgotten.  So an
 * id is remembered for at least IDSET_SLOTS / 2 more ids, in 2 MiB.  Two
 * ids that share a hash (about one chance in 2^45 here) count as one.
 */
#ifndef IDSET_H
#define IDSET_H

#include <stddef.h>
#include <stdint.h>

#define IDSET_SLOTS 65536	/* per generation; a power of two */

struct idset {
	struct idset_slot {
		uint64_t hash;	/* 0: empty */
		long long ms;
	} *gen[2];		/* gen[0] the newer */
	size_t used;		/* slots used in gen[0] */
};

/* Returns 0, or -1 when memory is short. */
int idset_init(struct idset *s);
void idset_free(struct idset *s);

/* Remembers id, handled at time ms. */
void idset_add(struct idset *s, const char *id, size_t len, long long ms);

/* When id was handled, or -1 if it is not remembered. */
long long idset_find(const struct idset *s, const char *id, size_t len);

#endif
