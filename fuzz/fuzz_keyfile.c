/*
 * fuzz_keyfile.c - libFuzzer: arbitrary key file contents through
 * mask_key_load; a key that loads must mask.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz_key.XXXXXX", hex[MASK_HEX_LEN + 1];
	struct mask_key *key;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (mask_key_load(path, &key) == NULL) {
		if (mask_hmac_hex(key, "1.2.3.4", 7, hex) < 0)
			abort();
		mask_key_free(key);
	}
	unlink(path);
	return 0;
}
