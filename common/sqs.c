/*
 * sqs.c - a client of one SQS queue over the AWS JSON protocol.
 * See sqs.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "aws.h"
#include "jsonw.h"
#include "sqs.h"

/* Members of values that yajl_tree_get() has already type-checked. */
#define STR(v) ((v)->u.string)
#define ARR(v) (&(v)->u.array)

#define SQS_MAX_RESPONSE (64 << 20)	/* 10 messages of 1 MiB, escaped */
#define SQS_DEFAULT_ATTEMPTS 8
#define SQS_BACKOFF_BASE_MS 100
#define SQS_BACKOFF_CAP_MS 10000

struct sqs {
	CURL *curl;
	struct aws_config aws;
	char *queue_url;
	char *sigv4;		/* "aws:amz:REGION:sqs" */
	int max_attempts;
	struct obuf req;	/* body of the request being sent */
	char *resp;		/* body of the last response, NUL-terminated */
	size_t resp_len, resp_cap;
	int resp_overflow;
	char err[512];
};

const char *
sqs_error(const struct sqs *q)
{
	return q->err;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sqs *q = ctx;
	size_t n = size * nmemb;

	if (q->resp_len + n + 1 > q->resp_cap) {
		size_t cap = q->resp_cap ? q->resp_cap : 65536;
		char *p;

		while (cap < q->resp_len + n + 1)
			cap *= 2;
		if (cap > SQS_MAX_RESPONSE || (p = realloc(q->resp, cap)) ==
		    NULL) {
			q->resp_overflow = 1;
			return 0;	/* makes curl fail the transfer */
		}
		q->resp = p;
		q->resp_cap = cap;
	}
	memcpy(q->resp + q->resp_len, data, n);
	q->resp_len += n;
	q->resp[q->resp_len] = '\0';
	return n;
}

struct sqs *
sqs_open(const char *queue_url, const char *endpoint_url, char *err,
    size_t errlen)
{
	struct sqs *q;
	const char *v;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl failed to initialise");
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (aws_config_load(&q->aws, queue_url, endpoint_url, err,
	    errlen) < 0) {
		free(q);
		return NULL;
	}
	q->max_attempts = SQS_DEFAULT_ATTEMPTS;
	if ((v = getenv("AWS_MAX_ATTEMPTS")) != NULL && atoi(v) > 0)
		q->max_attempts = atoi(v);
	if ((q->queue_url = strdup(queue_url)) == NULL ||
	    asprintf(&q->sigv4, "aws:amz:%s:sqs", q->aws.region) < 0 ||
	    (q->curl = curl_easy_init()) == NULL) {
		q->sigv4 = NULL;
		snprintf(err, errlen, "out of memory");
		sqs_close(q);
		return NULL;
	}
	/* One handle for every call: the connection is kept and reused. */
	curl_easy_setopt(q->curl, CURLOPT_URL, q->aws.endpoint);
	curl_easy_setopt(q->curl, CURLOPT_AWS_SIGV4, q->sigv4);
	curl_easy_setopt(q->curl, CURLOPT_USERNAME, q->aws.access_key_id);
	curl_easy_setopt(q->curl, CURLOPT_PASSWORD, q->aws.secret_access_key);
	curl_easy_setopt(q->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(q->curl, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(q->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	return q;
}

void
sqs_close(struct sqs *q)
{
	if (q == NULL)
		return;
	if (q->curl != NULL)
		curl_easy_cleanup(q->curl);
	aws_config_free(&q->aws);
	free(q->queue_url);
	free(q->sigv4);
	free(q->resp);
	obuf_free(&q->req);
	free(q);
}

/* Sleeps a random time in [0, min(cap, base * 2^attempt)): full jitter. */
static void
backoff(int attempt)
{
	long ceiling = SQS_BACKOFF_BASE_MS;
	struct timespec ts;
	long ms;

	for (int i = 0; i < attempt && ceiling < SQS_BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > SQS_BACKOFF_CAP_MS)
		ceiling = SQS_BACKOFF_CAP_MS;
	ms = (long)arc4random_uniform((uint32_t)ceiling);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* The short name of an AWS JSON error type, "com.amazonaws.sqs#X" -> X. */
static const char *
short_type(const char *type)
{
	const char *hash = strrchr(type, '#');

	return hash ? hash + 1 : type;
}

/* Describes a failed response in q->err; returns 1 if worth retrying. */
static int
describe_failure(struct sqs *q, const char *action, long http)
{
	const char *type = "", *msg = "";
	const char *tpath[] = { "__type", NULL };
	const char *mpath[] = { "message", NULL }, *Mpath[] = { "Message", NULL };
	yajl_val tree = q->resp ? yajl_tree_parse(q->resp, NULL, 0) : NULL;
	yajl_val v;
	int retry;

	if ((v = yajl_tree_get(tree, tpath, yajl_t_string)) != NULL)
		type = short_type(STR(v));
	if ((v = yajl_tree_get(tree, mpath, yajl_t_string)) != NULL ||
	    (v = yajl_tree_get(tree, Mpath, yajl_t_string)) != NULL)
		msg = STR(v);
	retry = http >= 500 || http == 429 || strstr(type, "Throttl") ||
	    strstr(type, "RequestThrottled") || strstr(type, "OverLimit");
	snprintf(q->err, sizeof(q->err), "%s: HTTP %ld%s%s%s%.200s", action,
	    http, *type ? " " : "", type, *msg ? ": " : "", msg);
	yajl_tree_free(tree);
	return retry;
}

/*
 * POSTs one action and parses the JSON answer into *tree.  Retries what
 * retrying can fix.
 */
static enum sqs_status
call(struct sqs *q, const char *action, long timeout_s, yajl_val *tree)
{
	struct curl_slist *hdrs = NULL;
	char target[96], token[4096];
	enum sqs_status st = SQS_EFAILED;

	*tree = NULL;
	if (q->req.oom) {
		snprintf(q->err, sizeof(q->err), "%s: out of memory", action);
		return SQS_EFAILED;
	}
	snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s", action);
	if ((hdrs = curl_slist_append(hdrs,
	    "Content-Type: application/x-amz-json-1.0")) == NULL ||
	    (hdrs = curl_slist_append(hdrs, target)) == NULL) {
		snprintf(q->err, sizeof(q->err), "%s: out of memory", action);
		curl_slist_free_all(hdrs);
		return SQS_EFAILED;
	}
	if (q->aws.session_token != NULL) {
		struct curl_slist *h;

		snprintf(token, sizeof(token), "X-Amz-Security-Token: %s",
		    q->aws.session_token);
		h = curl_slist_append(hdrs, token);
		OPENSSL_cleanse(token, sizeof(token));
		if (h == NULL) {
			curl_slist_free_all(hdrs);
			return SQS_EFAILED;
		}
		hdrs = h;
	}
	curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(q->curl, CURLOPT_POSTFIELDS, q->req.p);
	curl_easy_setopt(q->curl, CURLOPT_POSTFIELDSIZE, (long)q->req.len);
	curl_easy_setopt(q->curl, CURLOPT_TIMEOUT, timeout_s);

	for (int attempt = 0; attempt < q->max_attempts; attempt++) {
		CURLcode rc;
		long http = 0;

		if (attempt > 0)
			backoff(attempt);
		q->resp_len = 0;
		q->resp_overflow = 0;
		if (q->resp != NULL)
			q->resp[0] = '\0';
		rc = curl_easy_perform(q->curl);
		if (rc != CURLE_OK) {
			snprintf(q->err, sizeof(q->err), "%s: %s", action,
			    q->resp_overflow ? "response too large" :
			    curl_easy_strerror(rc));
			if (q->resp_overflow || rc == CURLE_URL_MALFORMAT ||
			    rc == CURLE_UNSUPPORTED_PROTOCOL ||
			    rc == CURLE_PEER_FAILED_VERIFICATION)
				break;
			continue;
		}
		curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &http);
		if (http >= 200 && http < 300) {
			char perr[128];

			*tree = yajl_tree_parse(q->resp ? q->resp : "{}", perr,
			    sizeof(perr));
			if (*tree == NULL) {
				snprintf(q->err, sizeof(q->err),
				    "%s: response is not JSON", action);
				break;
			}
			st = SQS_OK;
			break;
		}
		if (!describe_failure(q, action, http)) {
			st = SQS_EREFUSED;
			break;
		}
	}
	curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return st;
}

/* Starts a request body: the object, with the queue in it. */
static void
request_start(struct sqs *q, struct obuf *b)
{
	obuf_clear(b);
	obuf_puts(b, "{\"QueueUrl\":");
	jsonw_string(b, q->queue_url, strlen(q->queue_url));
}

static int
md5_matches(const char *body, size_t len, const char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[16];
	char mine[33];

	if (!EVP_Digest(body, len, md, NULL, EVP_md5(), NULL))
		return 0;
	for (int i = 0; i < 16; i++) {
		mine[2 * i] = digits[md[i] >> 4];
		mine[2 * i + 1] = digits[md[i] & 0xf];
	}
	mine[32] = '\0';
	return strcasecmp(mine, hex) == 0;
}

static long long
attribute(yajl_val msg, const char *name)
{
	const char *path[] = { "Attributes", name, NULL };
	yajl_val v = yajl_tree_get(msg, path, yajl_t_string);
	char *end;
	long long n;

	if (v == NULL)
		return -1;
	n = strtoll(STR(v), &end, 10);
	return *end == '\0' && end != STR(v) ? n : -1;
}

enum sqs_status
sqs_receive(struct sqs *q, int max, int wait_seconds, int visibility_timeout,
    sqs_message_fn *fn, void *ctx, int *count, int *skipped)
{
	const char *mpath[] = { "Messages", NULL };
	const char *idp[] = { "MessageId", NULL }, *rhp[] = { "ReceiptHandle",
	    NULL }, *bp[] = { "Body", NULL }, *md5p[] = { "MD5OfBody", NULL };
	struct obuf *b = &q->req;
	enum sqs_status st;
	yajl_val tree, msgs;

	*count = *skipped = 0;
	request_start(q, b);
	obuf_puts(b, ",\"MaxNumberOfMessages\":");
	obuf_putll(b, max);
	obuf_puts(b, ",\"WaitTimeSeconds\":");
	obuf_putll(b, wait_seconds);
	if (visibility_timeout >= 0) {
		obuf_puts(b, ",\"VisibilityTimeout\":");
		obuf_putll(b, visibility_timeout);
	}
	/* Both names: AttributeNames is deprecated, some servers know only it. */
	obuf_puts(b, ",\"AttributeNames\":[\"SentTimestamp\","
	    "\"ApproximateReceiveCount\"],\"MessageSystemAttributeNames\":"
	    "[\"SentTimestamp\",\"ApproximateReceiveCount\"]}");
	st = call(q, "ReceiveMessage", wait_seconds + 30L, &tree);
	if (st != SQS_OK)
		return st;
	msgs = yajl_tree_get(tree, mpath, yajl_t_array);
	for (size_t i = 0; msgs != NULL && i < ARR(msgs)->len; i++) {
		yajl_val m = ARR(msgs)->values[i], id, rh, body, md5;
		struct sqs_message msg;

		id = yajl_tree_get(m, idp, yajl_t_string);
		rh = yajl_tree_get(m, rhp, yajl_t_string);
		body = yajl_tree_get(m, bp, yajl_t_string);
		md5 = yajl_tree_get(m, md5p, yajl_t_string);
		if (id == NULL || rh == NULL || body == NULL) {
			++*skipped;
			continue;
		}
		msg.message_id = STR(id);
		msg.receipt_handle = STR(rh);
		msg.body = STR(body);
		msg.body_len = strlen(msg.body);
		/* A body damaged on the way stays on the queue; it comes
		 * back, and after enough tries is parked by the redrive. */
		if (md5 != NULL && !md5_matches(msg.body, msg.body_len,
		    STR(md5))) {
			++*skipped;
			continue;
		}
		msg.sent_timestamp = attribute(m, "SentTimestamp");
		msg.receive_count = (long)attribute(m,
		    "ApproximateReceiveCount");
		fn(ctx, &msg);
		++*count;
	}
	yajl_tree_free(tree);
	return SQS_OK;
}

enum sqs_status
sqs_delete_batch(struct sqs *q, struct sqs_delete *e, size_t n)
{
	const char *sp[] = { "Successful", NULL }, *fp[] = { "Failed", NULL };
	const char *idp[] = { "Id", NULL }, *cp[] = { "Code", NULL };
	struct obuf *b = &q->req;
	enum sqs_status st;
	yajl_val tree, ok, failed;

	request_start(q, b);
	obuf_puts(b, ",\"Entries\":[");
	for (size_t i = 0; i < n; i++) {
		/* Ids are the positions: unique, and all the service needs. */
		obuf_puts(b, i ? ",{\"Id\":\"" : "{\"Id\":\"");
		obuf_putll(b, (long long)i);
		obuf_puts(b, "\",\"ReceiptHandle\":");
		jsonw_string(b, e[i].receipt_handle, strlen(e[i].receipt_handle));
		obuf_putc(b, '}');
		e[i].deleted = 0;
		snprintf(e[i].code, sizeof(e[i].code), "NoAnswer");
	}
	obuf_puts(b, "]}");
	st = call(q, "DeleteMessageBatch", 30L, &tree);
	if (st != SQS_OK)
		return st;
	ok = yajl_tree_get(tree, sp, yajl_t_array);
	failed = yajl_tree_get(tree, fp, yajl_t_array);
	for (size_t i = 0; ok != NULL && i < ARR(ok)->len; i++) {
		yajl_val id = yajl_tree_get(ARR(ok)->values[i], idp,
		    yajl_t_string);
		unsigned long k;

		if (id != NULL && (k = strtoul(STR(id), NULL,
		    10)) < n)
			e[k].deleted = 1;
	}
	for (size_t i = 0; failed != NULL && i < ARR(failed)->len;
	    i++) {
		yajl_val item = ARR(failed)->values[i];
		yajl_val id = yajl_tree_get(item, idp, yajl_t_string);
		yajl_val code = yajl_tree_get(item, cp, yajl_t_string);
		unsigned long k;

		if (id != NULL && (k = strtoul(STR(id), NULL,
		    10)) < n) {
			e[k].deleted = 0;
			snprintf(e[k].code, sizeof(e[k].code), "%s",
			    code ? STR(code) : "Unknown");
		}
	}
	yajl_tree_free(tree);
	return SQS_OK;
}
