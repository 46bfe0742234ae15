/*
 * idset.c - recently handled ids.  See idset.h.
 */
#include <stdlib.h>
#include <string.h>

#include "idset.h"

/* FNV-1a: ids are not chosen by an adversary who gains by a collision
 * (it would only hide a message for a minute longer). */
static uint64_t
hash(const char *id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 0x100000001b3ULL;
	}
	return h != 0 ? h : 1;
}

/* The slot of h in t, or the empty one where it would go. */
static size_t
probe(const struct idset_slot *t, uint64_t h)
{
	size_t i = (size_t)h & (IDSET_SLOTS - 1);

	while (t[i].hash != 0 && t[i].hash != h)
		i = (i + 1) & (IDSET_SLOTS - 1);
	return i;
}

int
idset_init(struct idset *s)
{
	s->used = 0;
	s->gen[0] = calloc(IDSET_SLOTS, sizeof(*s->gen[0]));
	s->gen[1] = calloc(IDSET_SLOTS, sizeof(*s->gen[1]));
	if (s->gen[0] == NULL || s->gen[1] == NULL) {
		idset_free(s);
		return -1;
	}
	return 0;
}

void
idset_free(struct idset *s)
{
	free(s->gen[0]);
	free(s->gen[1]);
	s->gen[0] = s->gen[1] = NULL;
}

void
idset_add(struct idset *s, const char *id, size_t len, long long ms)
{
	uint64_t h = hash(id, len);
	struct idset_slot *e;

	/* Half full keeps the probes short: the newer generation becomes
	 * the older, whose slots are reused. */
	if (s->used >= IDSET_SLOTS / 2) {
		struct idset_slot *older = s->gen[1];

		s->gen[1] = s->gen[0];
		s->gen[0] = older;
		memset(s->gen[0], 0, IDSET_SLOTS * sizeof(*s->gen[0]));
		s->used = 0;
	}
	e = &s->gen[0][probe(s->gen[0], h)];
	if (e->hash == 0)
		s->used++;
	e->hash = h;
	e->ms = ms;
}

long long
idset_find(const struct idset *s, const char *id, size_t len)
{
	uint64_t h = hash(id, len);

	for (int g = 0; g < 2; g++) {
		const struct idset_slot *e = &s->gen[g][probe(s->gen[g], h)];

		if (e->hash == h)
			return e->ms;
	}
	return -1;
}
