/*
 * xml.h - walk an XML document (expat underneath) as a sequence of leaf
 * elements and element ends, which is all an AWS Query-protocol response
 * needs: <Message><MessageId>..</MessageId>..</Message> becomes
 * leaf(parent "Message", name "MessageId", text) ... end("Message").
 *
 * Text is the element's character data with entities and character
 * references decoded (expat's work).  Callbacks get it NUL-terminated and
 * valid only during the call.  Element names are local: no namespace
 * prefixes appear in AWS responses.
 */
#ifndef XML_H
#define XML_H

#include <stddef.h>

struct xml_handler {
	/* An element with no child elements. */
	void (*leaf)(void *ctx, const char *parent, const char *name,
	    const char *text, size_t len);
	/* The end of any element (after its leaf call, if any). */
	void (*end)(void *ctx, const char *name);
};

/* Parses text[0..len).  Returns 0, or -1 when it is not well-formed XML,
 * has a document type declaration (entities are never expanded), nests
 * deeper than 32 levels, or memory runs out. */
int xml_walk(const char *text, size_t len, const struct xml_handler *h,
    void *ctx);

#endif
