/*
 * fuzz_lines.c - libFuzzer: arbitrary input through the bounded line
 * reader, with a small limit so overlong lines are exercised: every byte
 * must be accounted for, in lines, newlines or skipped overlong lines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lines lr;
	const char *line;
	size_t len, total = 0, n = 0;
	enum lines_result r;
	int p[2];

	if (size > 60000 || pipe(p) < 0)
		return 0;
	if (write(p[1], data, size) != (ssize_t)size)
		abort();
	close(p[1]);
	if (lines_init(&lr, p[0], 16) < 0)
		abort();
	while ((r = lines_next(&lr, -1, &line, &len)) == LINES_OK ||
	    r == LINES_TOOLONG) {
		if ((r == LINES_OK) != (len <= 16))
			abort();	/* the limit is the verdict */
		total += len;
		n++;
	}
	/* each line but a final unterminated one lost its newline */
	if (r != LINES_EOF || total + n < size || total + n > size + 1)
		abort();
	lines_free(&lr);
	close(p[0]);
	return 0;
}
