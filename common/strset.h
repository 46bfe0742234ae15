/*
 * strset.h - a set of byte strings, each with a value, for finding
 * duplicates in linear time (keys of a JSON object, message ids of a
 * batch).
 *
 * Ownership: the set holds pointers to the strings, not copies; they must
 * outlive the set's current contents.  strset_clear() forgets everything
 * in O(1), so one set serves every line or batch.
 */
#ifndef STRSET_H
#define STRSET_H

#include <stddef.h>
#include <stdint.h>

struct strset {
	struct strset_slot *slots;
	size_t cap, len;
	unsigned gen;		/* slots of other generations are empty */
};

/* Adds s[0..n) with value v.  Returns 1 when added, 0 when the string
 * was there already (its value in *old if old is not NULL), -1 when
 * memory is short. */
int strset_add(struct strset *set, const char *s, size_t n, size_t v,
    size_t *old);


/* Empties the set, keeping its memory. */
void strset_clear(struct strset *set);

void strset_free(struct strset *set);

#endif
