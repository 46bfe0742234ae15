/*
 * sqsreq.h - the bodies of the SQS requests the tools make, in either
 * protocol: AWS JSON 1.0 (an object, the action in an X-Amz-Target
 * header) or Query (a form with Action= and Version=, answered in XML).
 *
 * Each function empties b and writes one whole body into it; like every
 * obuf writer it cannot fail visibly (b->oom tells).  Values are escaped
 * for the protocol: JSON strings, or percent-encoded form values.
 */
#ifndef SQSREQ_H
#define SQSREQ_H

#include <stddef.h>

#include "obuf.h"
#include "sqs.h"

#define SQSREQ_API_VERSION "2012-11-05"	/* the Query protocol's */

/* ReceiveMessage of up to max messages, long-polling wait seconds;
 * visibility < 0 keeps the queue's timeout.  Asks for SentTimestamp and
 * ApproximateReceiveCount. */
void sqsreq_receive(struct obuf *b, enum sqs_protocol p, const char *queue,
    int max, int wait, int visibility);

/* DeleteMessageBatch of the entries e[i] with pending[i] set, each with
 * Id its position i (unique, and all the service needs to answer). */
void sqsreq_delete(struct obuf *b, enum sqs_protocol p, const char *queue,
    const struct sqs_delete *e, const unsigned char *pending, size_t n);

/* ChangeMessageVisibilityBatch of the same entries: each message hidden
 * for its e[i].seconds from now. */
void sqsreq_hide(struct obuf *b, enum sqs_protocol p, const char *queue,
    const struct sqs_delete *e, const unsigned char *pending, size_t n);

/* SendMessage of body[0..len). */
void sqsreq_send(struct obuf *b, enum sqs_protocol p, const char *queue,
    const char *body, size_t len);

#endif
