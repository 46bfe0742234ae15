/*
 * exitcode.h - the one exit-status table shared by every fetch-awards tool.
 *
 * Scripts around the pipeline branch on these, so they never change
 * meaning.  README.md, the man pages and every --help repeat this table.
 */
#ifndef EXITCODE_H
#define EXITCODE_H

enum {
	EXIT_OK = 0,		/* everything read was handled */
	EXIT_PARTIAL = 1,	/* ran to the end, but some items failed (e.g. deletes) */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_CONFIG = 3,	/* bad or missing configuration: key, queue,
				 * credentials, or a service refusing them */
	EXIT_IO = 4,		/* local I/O failed: reading input or writing output */
	EXIT_SQS = 5,		/* the queue service kept failing (after retries) */
	EXIT_DB = 6,		/* PostgreSQL failed or refused a request */
};

#endif
