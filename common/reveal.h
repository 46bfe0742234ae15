/*
 * reveal.h - pii-mask --reveal: AES-SIV masks (mask.h) turned back into
 * the values they hide, for whoever holds the key.
 */
#ifndef REVEAL_H
#define REVEAL_H

#include <stddef.h>

#include "jfields.h"
#include "mask.h"
#include "obuf.h"

/*
 * Appends to o what line reveals: a row line gets "ip" and "device_id"
 * back in place of its masks; another JSON object (a reject line) is
 * copied unchanged; any other line is one mask, whose value is written
 * as a JSON string.  A mask not of this key (or, when key_id is not
 * NULL, not of that key id) is written as null.  Returns 0, or -1 when
 * something could not be revealed.
 */
int reveal_line(struct mask_key *key, const char *key_id,
    struct jfields_parser *p, struct obuf *o, const char *line, size_t len);

#endif
