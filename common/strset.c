/*
 * strset.c - a set of byte strings.  See strset.h.
 */
#include <stdlib.h>
#include <string.h>

#include "strset.h"

struct strset_slot {
	unsigned gen;
	uint32_t hash;
	const char *s;
	size_t n, v;
};

/* Hashes eight bytes at a time: the strings are short, and a byte-wise
 * hash's chain of multiplies was most of the cost of parsing a line. */
static uint32_t
hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return (uint32_t)(h ^ (h >> 29));
}

void
strset_clear(struct strset *set)
{
	set->len = 0;
	if (++set->gen == 0) {	/* wrapped: old slots would look live */
		if (set->slots != NULL)
			memset(set->slots, 0, set->cap * sizeof(*set->slots));
		set->gen = 1;
	}
}

void
strset_free(struct strset *set)
{
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

/* Doubles the table (kept at most half full), rehashing live slots. */
static int
grow(struct strset *set)
{
	struct strset_slot *old = set->slots;
	size_t oldcap = set->cap, cap = oldcap ? oldcap * 2 : 16;

	if ((set->slots = calloc(cap, sizeof(*set->slots))) == NULL) {
		set->slots = old;
		return -1;
	}
	set->cap = cap;
	if (set->gen == 0)
		set->gen = 1;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (old[i].gen != set->gen)
			continue;
		for (j = old[i].hash & (cap - 1); set->slots[j].gen == set->gen;
		    j = (j + 1) & (cap - 1))
			;
		set->slots[j] = old[i];
	}
	free(old);
	return 0;
}

int
strset_add(struct strset *set, const char *s, size_t n, size_t v,
    size_t *old)
{
	uint32_t h = hash(s, n);
	size_t j;

	if ((set->len + 1) * 2 > set->cap && grow(set) < 0)
		return -1;
	for (j = h & (set->cap - 1); set->slots[j].gen == set->gen;
	    j = (j + 1) & (set->cap - 1)) {
		struct strset_slot *e = &set->slots[j];

		if (e->hash == h && e->n == n && memcmp(e->s, s, n) == 0) {
			if (old != NULL)
				*old = e->v;
			return 0;
		}
	}
	set->slots[j] = (struct strset_slot){ set->gen, h, s, n, v };
	set->len++;
	return 1;
}

