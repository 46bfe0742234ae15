/*
 * sqs.h - a client of one Amazon SQS queue, over the AWS JSON protocol or
 * the older Query/XML protocol, signed with libcurl's SigV4.
 *
 * Requests that fail for a reason retrying can fix (connection errors,
 * timeouts, 5xx, throttling) are retried with exponential backoff and
 * full jitter, within AWS_MAX_ATTEMPTS attempts (default 8); or, when the
 * client waits out outages, for as long as it takes, until the tool is
 * asked to stop (then within AWS_MAX_ATTEMPTS again).  Other failures
 * end the request at once.  Failures and answers are reported to the
 * client's struct outage, if any.
 *
 * A tool makes one struct sqs_call per request it wants under way, starts
 * them, and lets sqs_run() drive them all from one thread through
 * libcurl's multi interface, over connections the client keeps and
 * reuses; sqs_run() hands back each call as it ends.  One blocking call,
 * sqs_send(), makes one request and returns its outcome (for a
 * dead-letter queue's own client); do not use it on a client with calls
 * under way.  Request bodies are built by sqsreq.h, answers parsed by
 * sqsresp.h.
 *
 * Errors: functions return an enum sqs_status, and the message of what
 * went wrong is kept with the call (sqs_call_error) or the client
 * (sqs_error); nothing here exits or prints.
 *
 * Ownership: a struct sqs_message handed to a callback points into the
 * client's own buffers and is valid only during the callback.  A call
 * belongs to its client and must be freed before it.
 */
#ifndef SQS_H
#define SQS_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>

#include "outage.h"

struct sqs;

enum sqs_protocol {
	SQS_AUTO,	/* JSON, falling back to Query when not understood */
	SQS_JSON,	/* AWS JSON 1.0 (X-Amz-Target) */
	SQS_QUERY,	/* form-encoded Action=..., XML answers */
};

enum sqs_status {
	SQS_OK,
	SQS_EREFUSED,	/* refused, retrying cannot help: no such queue,
			 * bad credentials, access denied */
	SQS_EFAILED,	/* the service could not be reached or kept failing */
};

struct sqs_options {
	const char *endpoint_url;	/* NULL: see aws.h */
	const char *ca_bundle;		/* NULL: the system's CAs */
	enum sqs_protocol protocol;
	/* When set and it becomes non-zero, receives under way are
	 * abandoned (their messages come back after their visibility
	 * timeout): see sqs_run(). */
	volatile sig_atomic_t *stop;
	/* Retry what retrying can fix without a limit until *stop. */
	int wait_out_outages;
	struct outage *outage;	/* NULL: none (outage.h) */
};

struct sqs_message {
	const char *message_id;
	const char *receipt_handle;
	const char *body;	/* SQS bodies cannot hold U+0000 */
	size_t body_len;
	long long sent_timestamp;	/* ms since the epoch, -1 if unknown */
	long receive_count;		/* -1 if unknown */
};

/* One entry of a delete (or hide) batch; the rest is filled when its
 * call ends. */
struct sqs_delete {
	const char *receipt_handle;
	int seconds;		/* hide: for so long from now */
	int deleted;		/* 1 when the service confirmed the delete
				 * (hide: the new timeout) */
	int stale;		/* the handle expired or was superseded: the
				 * message will come back */
	char code[64];		/* the service's error code when not deleted */
};

typedef void sqs_message_fn(void *ctx, const struct sqs_message *m);

/* Opens a client for queue_url.  Returns NULL with a message in err. */
struct sqs *sqs_open(const char *queue_url, const struct sqs_options *o,
    char *err, size_t errlen);

void sqs_close(struct sqs *q);

/* SendMessage of one body; SQS_OK once the service has stored it (its
 * MD5 checked). */
enum sqs_status sqs_send(struct sqs *q, const char *body, size_t len);

/* ---- calls in flight -------------------------------------------------- */

struct sqs_call;

/* A call on client q, idle.  Returns NULL when memory is short. */
struct sqs_call *sqs_call_new(struct sqs *q);

/* Starts a ReceiveMessage on idle c: up to max (1..10) messages,
 * long-polling wait_seconds; visibility_timeout < 0 keeps the queue's. */
void sqs_call_receive(struct sqs_call *c, int max, int wait_seconds,
    int visibility_timeout);

/* Starts a DeleteMessageBatch of e[0..n) (n 1..10) on idle c; e must
 * stay put until c ends, and then tells each entry's fate. */
void sqs_call_delete(struct sqs_call *c, struct sqs_delete *e, size_t n);

/* Starts a ChangeMessageVisibilityBatch of e[0..n) (n 1..10) on idle c:
 * each message hidden e[i].seconds from now; as a delete otherwise. */
void sqs_call_hide(struct sqs_call *c, struct sqs_delete *e, size_t n);

/*
 * Drives every call under way until one ends, fd (when >= 0) is ready
 * for events (POLLIN: has input; POLLOUT: can take output), or
 * timeout_ms (< 0: no limit) passes; it always drives them once, so a
 * timeout of 0 puts new requests on the wire.  Returns an ended call,
 * each once, now idle with its outcome kept until it is started again;
 * or NULL.  Once the client's stop flag is set, receives under way end at
 * once, abandoned (nothing received), other requests run to their end,
 * and a wait for input returns NULL: input is no longer wanted.
 */
struct sqs_call *sqs_run(struct sqs *q, int fd, short events,
    int timeout_ms);

/* Calls started and not yet handed back by sqs_run(). */
size_t sqs_busy(const struct sqs *q);

/* An ended call's outcome, and what went wrong if it failed. */
enum sqs_status sqs_call_status(const struct sqs_call *c);
const char *sqs_call_error(const struct sqs_call *c);

/* For an ended receive: calls fn for every message whose body matches its
 * MD5 (the others stay on the queue, counted in *skipped).  Returns the
 * number handed to fn. */
int sqs_call_messages(struct sqs_call *c, sqs_message_fn *fn, void *ctx,
    int *skipped);

/* ---- about the client ------------------------------------------------- */

/* What went wrong in the last sqs_send() that failed, in one line. */
const char *sqs_error(const struct sqs *q);

#endif
