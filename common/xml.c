/*
 * xml.c - walk an XML document as leaves and ends.  See xml.h.
 */
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "obuf.h"
#include "xml.h"

#define XML_MAX_DEPTH 32

struct walk {
	XML_Parser parser;
	const struct xml_handler *h;
	void *ctx;
	char *names[XML_MAX_DEPTH];	/* open elements */
	int depth;
	int had_child[XML_MAX_DEPTH];
	struct obuf text;		/* character data of the innermost */
	int failed;
};

static void XMLCALL
on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct walk *w = data;

	(void)attrs;
	if (w->depth > 0)
		w->had_child[w->depth - 1] = 1;
	if (w->depth == XML_MAX_DEPTH ||
	    (w->names[w->depth] = strdup(name)) == NULL) {
		w->failed = 1;
		XML_StopParser(w->parser, XML_FALSE);
		return;
	}
	w->had_child[w->depth++] = 0;
	obuf_clear(&w->text);
}

static void XMLCALL
on_text(void *data, const XML_Char *s, int len)
{
	struct walk *w = data;

	obuf_put(&w->text, s, (size_t)len);
}

static void XMLCALL
on_end(void *data, const XML_Char *name)
{
	struct walk *w = data;
	int d = --w->depth;

	if (!w->had_child[d] && w->h->leaf != NULL) {
		obuf_putc(&w->text, '\0');
		if (w->text.oom) {
			w->failed = 1;
			XML_StopParser(w->parser, XML_FALSE);
		} else
			w->h->leaf(w->ctx, d > 0 ? w->names[d - 1] : "", name,
			    w->text.p, w->text.len - 1);
	}
	if (w->h->end != NULL)
		w->h->end(w->ctx, name);
	free(w->names[d]);
	w->names[d] = NULL;
	obuf_clear(&w->text);
}

/* AWS answers have no DTD.  One in an answer could only be there to
 * define entities that expand (a billion laughs), so it fails the parse. */
static void XMLCALL
on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	struct walk *w = data;

	(void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
	w->failed = 1;
	XML_StopParser(w->parser, XML_FALSE);
}

int
xml_walk(const char *text, size_t len, const struct xml_handler *h, void *ctx)
{
	struct walk w = { .h = h, .ctx = ctx };
	int ok;

	if ((w.parser = XML_ParserCreate("UTF-8")) == NULL)
		return -1;
	XML_SetUserData(w.parser, &w);
	XML_SetElementHandler(w.parser, on_start, on_end);
	XML_SetCharacterDataHandler(w.parser, on_text);
	XML_SetStartDoctypeDeclHandler(w.parser, on_doctype);
	ok = XML_Parse(w.parser, text, (int)len, XML_TRUE) == XML_STATUS_OK &&
	    !w.failed;
	XML_ParserFree(w.parser);
	while (w.depth > 0)
		free(w.names[--w.depth]);
	obuf_free(&w.text);
	return ok ? 0 : -1;
}
