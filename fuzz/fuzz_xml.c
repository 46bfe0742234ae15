/*
 * fuzz_xml.c - libFuzzer: an SQS Query-protocol answer through xml_walk,
 * the walker behind sqs.c's XML parsing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t seen;

static void
leaf(void *ctx, const char *parent, const char *name, const char *text,
    size_t len)
{
	(void)ctx;
	seen += strlen(parent) + strlen(name) + len;
	if (text[len] != '\0')
		__builtin_trap();	/* text is handed out NUL-terminated */
}

static void
end(void *ctx, const char *name)
{
	(void)ctx;
	seen += strlen(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct xml_handler h = { leaf, end };

	(void)xml_walk((const char *)data, size, &h, NULL);
	return 0;
}
