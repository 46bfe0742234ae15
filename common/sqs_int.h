/*
 * sqs_int.h - what the files of the SQS client share, and nothing else
 * includes: a call and the client (sqs.c drives them; sqsanswer.c reads
 * what came back).
 */
#ifndef SQS_INT_H
#define SQS_INT_H

#include <signal.h>
#include <stddef.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "aws.h"
#include "obuf.h"
#include "sqs.h"
#include "sqsresp.h"

#define SQS_MAX_RESPONSE (64 << 20)	/* 10 messages of 1 MiB, escaped */
#define SQS_MAX_BATCH 10
#define SQS_DEFAULT_ATTEMPTS 8
#define SQS_BACKOFF_BASE_MS 100
#define SQS_BACKOFF_CAP_MS 10000
/* The longest sqs_run() sleeps without looking at the stop flag: a
 * signal between the look and the sleep is noticed this late. */
#define SQS_STOP_CHECK_MS 1000

enum call_op { OP_RECEIVE, OP_DELETE, OP_SEND, OP_HIDE };
enum call_state { C_IDLE, C_SENDING, C_WAITING, C_ENDED };

struct sqs_call {
	struct sqs *q;
	CURL *curl;
	struct curl_slist *hdrs;	/* of the request being sent */
	enum call_state state;
	enum call_op op;
	enum sqs_protocol p;	/* of the request being sent */
	int attempt;		/* attempts of this request so far */
	int round;		/* delete: rounds of resending failed entries */
	long long due_ms;	/* C_WAITING: when to send again */
	int abandoned;		/* a receive given up on stop */
	enum sqs_status status;	/* C_ENDED and after */
	/* the request's arguments */
	int max, wait, visibility;		/* receive */
	struct sqs_delete *e;			/* delete, hide */
	size_t n;
	unsigned char pending[SQS_MAX_BATCH];	/* entries not yet done */
	const char *body;			/* send */
	size_t body_len;
	struct obuf req;	/* body of the request being sent */
	struct obuf resp;	/* body of the answer */
	int resp_overflow;
	struct sqsresp ans;	/* the answer, parsed */
	char err[512];
};

struct sqs {
	CURLM *multi;
	struct aws_config aws;
	char *queue_url;
	char *sigv4;		/* "aws:amz:REGION:sqs" */
	char *ca_bundle;
	int max_attempts;
	int wait_out_outages;
	struct outage *outage;
	enum sqs_protocol proto;	/* SQS_AUTO until the first answer */
	volatile sig_atomic_t *stop;
	struct sqs_call **calls;	/* every call of this client */
	size_t ncalls, cap;
	size_t busy;		/* started, not yet handed back */
	struct sqs_call *own;	/* the blocking functions' */
	EVP_MD *md5;		/* fetched once: OpenSSL 3 looks up an
				 * EVP_md5() again on every use */
};

/* The action of each call_op, for requests and messages. */
extern const char *const sqs_actions[];

/* Ends c with status st: it is handed back by sqs_run() (sqs.c). */
void sqs_call_end(struct sqs_call *c, enum sqs_status st);

/* The answer (sqsanswer.c): parses it in the protocol of the request
 * (0, or -1 when it is not what that protocol answers with); tells
 * whether it is JSON at all (how SQS_AUTO falls back to Query);
 * describes a failure in c->err (1 if worth retrying); settles a call
 * answered with success. */
int sqs_answer_parse(struct sqs_call *c);
int sqs_answer_looks_json(const struct sqs_call *c);
int sqs_answer_failure(struct sqs_call *c, long http);
void sqs_answered(struct sqs_call *c);
void sqs_md5_hex(const EVP_MD *md5, const char *s, size_t n, char out[33]);

#endif
