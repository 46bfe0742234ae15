/*
 * sqs.h - a client of one Amazon SQS queue over the AWS JSON protocol,
 * signed with libcurl's SigV4.
 *
 * Calls that fail for a reason retrying can fix (connection errors,
 * timeouts, 5xx, throttling) are retried with exponential backoff and
 * full jitter, within a bounded number of attempts.  Other failures
 * return at once.
 *
 * Ownership: a struct sqs_message handed to a callback points into the
 * client's response buffer and is valid only during the callback.
 */
#ifndef SQS_H
#define SQS_H

#include <stddef.h>

struct sqs;

enum sqs_status {
	SQS_OK,
	SQS_EREFUSED,	/* refused, retrying cannot help: no such queue,
			 * bad credentials, access denied */
	SQS_EFAILED,	/* the service could not be reached or kept failing */
};

struct sqs_message {
	const char *message_id;
	const char *receipt_handle;
	const char *body;	/* SQS bodies cannot hold U+0000 */
	size_t body_len;
	long long sent_timestamp;	/* ms since the epoch, -1 if unknown */
	long receive_count;		/* -1 if unknown */
};

/* One entry of a delete batch; status is filled by sqs_delete_batch. */
struct sqs_delete {
	const char *receipt_handle;
	int deleted;		/* 1 when the service confirmed the delete */
	char code[64];		/* the service's error code when not deleted */
};

typedef void sqs_message_fn(void *ctx, const struct sqs_message *m);

/* Opens a client for queue_url (endpoint_url may be NULL: see aws.h).
 * Returns NULL with a message in err. */
struct sqs *sqs_open(const char *queue_url, const char *endpoint_url,
    char *err, size_t errlen);

void sqs_close(struct sqs *q);

/*
 * ReceiveMessage: up to max (1..10) messages, long-polling wait_seconds;
 * visibility_timeout < 0 keeps the queue's own.  Calls fn for every
 * message whose body matches its MD5 (others are left on the queue and
 * reported through *skipped).  Sets *count to the number received.
 */
enum sqs_status sqs_receive(struct sqs *q, int max, int wait_seconds,
    int visibility_timeout, sqs_message_fn *fn, void *ctx, int *count,
    int *skipped);

/* DeleteMessageBatch of n (1..10) entries; each entry's deleted and code
 * tell its fate.  SQS_OK means the call itself succeeded. */
enum sqs_status sqs_delete_batch(struct sqs *q, struct sqs_delete *e,
    size_t n);

/* What went wrong in the last call that failed, in one line. */
const char *sqs_error(const struct sqs *q);

#endif
