/*
 * sqs.c - a client of one SQS queue over the JSON or Query protocol.
 * See sqs.h.
 *
 * Each call builds its request for the protocol in use, sends it through
 * one reused curl handle, and parses the answer, JSON or XML, into one
 * struct sqsresp (sqsresp.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aws.h"
#include "jsonw.h"
#include "obuf.h"
#include "sqs.h"
#include "sqsresp.h"

#define SQS_MAX_RESPONSE (64 << 20)	/* 10 messages of 1 MiB, escaped */
#define SQS_MAX_BATCH 10
#define SQS_DEFAULT_ATTEMPTS 8
#define SQS_BACKOFF_BASE_MS 100
#define SQS_BACKOFF_CAP_MS 10000
#define SQS_API_VERSION "2012-11-05"

struct sqs {
	CURL *curl;
	struct aws_config aws;
	char *queue_url;
	char *sigv4;		/* "aws:amz:REGION:sqs" */
	int max_attempts;
	enum sqs_protocol proto;	/* SQS_AUTO until the first answer */
	volatile sig_atomic_t *stop;
	int receiving;		/* a receive under way may be abandoned */
	struct obuf req;	/* body of the request being sent */
	struct obuf resp;	/* body of the last response */
	int resp_overflow;
	struct sqsresp ans;	/* the last response, parsed */
	char err[512];
};

const char *
sqs_error(const struct sqs *q)
{
	return q->err;
}

enum sqs_protocol
sqs_protocol(const struct sqs *q)
{
	return q->proto;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sqs *q = ctx;
	size_t n = size * nmemb;

	if (q->resp.len + n + 1 > SQS_MAX_RESPONSE) {
		q->resp_overflow = 1;
		return 0;	/* makes curl fail the transfer */
	}
	obuf_put(&q->resp, data, n);
	return q->resp.oom ? 0 : n;
}

struct sqs *
sqs_open(const char *queue_url, const struct sqs_options *o, char *err,
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
	if (aws_config_load(&q->aws, queue_url, o->endpoint_url, err,
	    errlen) < 0) {
		free(q);
		return NULL;
	}
	q->proto = o->protocol;
	q->stop = o->stop;
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
	curl_easy_setopt(q->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(q->curl, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(q->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* TLS peers are always verified; only the CAs can be changed. */
	curl_easy_setopt(q->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(q->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_bundle != NULL)
		curl_easy_setopt(q->curl, CURLOPT_CAINFO, o->ca_bundle);
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
	obuf_free(&q->req);
	obuf_free(&q->resp);
	sqsresp_free(&q->ans);
	free(q);
}

/* Abandons a receive when the tool was asked to stop. */
static int
on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct sqs *q = ctx;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return q->receiving && *q->stop;
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

/* ---- parsing answers ------------------------------------------------ */

/* Parses the answer to a request made in protocol p.  Returns 0, or -1
 * when it is not what p answers with. */
static int
parse_answer(struct sqs *q, enum sqs_protocol p)
{
	int rc;

	if (p == SQS_QUERY)
		return sqsresp_parse_xml(&q->ans, q->resp.p, q->resp.len);
	obuf_putc(&q->resp, '\0');
	if (q->resp.oom)
		return -1;
	rc = sqsresp_parse_json(&q->ans, q->resp.len > 1 ? q->resp.p : "{}");
	q->resp.len--;
	return rc;
}

/* Does the answer look like JSON?  A Query-only server answers a JSON
 * request with XML or plain text, which is how SQS_AUTO tells. */
static int
looks_json(const struct sqs *q)
{
	size_t i = 0;

	while (i < q->resp.len && strchr(" \t\r\n", q->resp.p[i]) != NULL)
		i++;
	return i < q->resp.len && q->resp.p[i] == '{';
}

/* ---- requests -------------------------------------------------------- */

/* Appends a form field "&name=value", percent-encoded. */
static void
form(struct obuf *b, const char *name, const char *v, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	if (b->len > 0)
		obuf_putc(b, '&');
	obuf_puts(b, name);
	obuf_putc(b, '=');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == '~')
			obuf_putc(b, (char)c);
		else {
			obuf_putc(b, '%');
			obuf_putc(b, hex[c >> 4]);
			obuf_putc(b, hex[c & 15]);
		}
	}
}

static void
form_int(struct obuf *b, const char *name, long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", v);
	form(b, name, num, strlen(num));
}

/* Starts a request body: the object, or the form, with the queue in it. */
static void
request_start(struct sqs *q, enum sqs_protocol p, const char *action)
{
	struct obuf *b = &q->req;

	obuf_clear(b);
	if (p == SQS_QUERY) {
		form(b, "Action", action, strlen(action));
		form(b, "Version", SQS_API_VERSION, strlen(SQS_API_VERSION));
		form(b, "QueueUrl", q->queue_url, strlen(q->queue_url));
	} else {
		obuf_puts(b, "{\"QueueUrl\":");
		jsonw_string(b, q->queue_url, strlen(q->queue_url));
	}
}

/* Describes a failed answer in q->err; returns 1 if worth retrying. */
static int
describe_failure(struct sqs *q, const char *action, long http)
{
	const char *code = q->ans.error_code, *msg = q->ans.error_message;
	int retry;

	if (code == NULL)
		code = "";
	retry = http >= 500 || http == 429 || strstr(code, "Throttl") ||
	    strstr(code, "OverLimit") || strcmp(code, "ServiceUnavailable") ==
	    0 || strcmp(code, "InternalError") == 0 ||
	    strcmp(code, "InternalFailure") == 0 ||
	    strcmp(code, "RequestTimeout") == 0;
	snprintf(q->err, sizeof(q->err), "%s: HTTP %ld%s%s%s%.200s", action,
	    http, *code ? " " : "", code, msg ? ": " : "", msg ? msg : "");
	return retry;
}

/* What one exchange came to. */
enum exchange { EX_OK, EX_RETRY, EX_REFUSED, EX_NOT_JSON };

/* Sends the request once and parses the answer. */
static enum exchange
exchange(struct sqs *q, enum sqs_protocol p, const char *action,
    long timeout_s)
{
	struct curl_slist *hdrs = NULL, *h;
	char target[96], token[4096];
	enum exchange ex = EX_RETRY;
	CURLcode rc;
	long http = 0;

	if (q->req.oom) {
		snprintf(q->err, sizeof(q->err), "%s: out of memory", action);
		return EX_REFUSED;
	}
	/* Temporary credentials are fetched again before they expire. */
	if (aws_credentials_fresh(&q->aws, q->err, sizeof(q->err)) < 0)
		return EX_RETRY;
	snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s", action);
	hdrs = curl_slist_append(hdrs, p == SQS_QUERY ?
	    "Content-Type: application/x-www-form-urlencoded" :
	    "Content-Type: application/x-amz-json-1.0");
	if (hdrs != NULL && p != SQS_QUERY &&
	    (h = curl_slist_append(hdrs, target)) != NULL)
		hdrs = h;
	if (hdrs != NULL && q->aws.session_token != NULL) {
		snprintf(token, sizeof(token), "X-Amz-Security-Token: %s",
		    q->aws.session_token);
		if ((h = curl_slist_append(hdrs, token)) != NULL)
			hdrs = h;
		OPENSSL_cleanse(token, sizeof(token));
	}
	if (hdrs == NULL) {
		snprintf(q->err, sizeof(q->err), "%s: out of memory", action);
		return EX_REFUSED;
	}
	curl_easy_setopt(q->curl, CURLOPT_USERNAME, q->aws.access_key_id);
	curl_easy_setopt(q->curl, CURLOPT_PASSWORD, q->aws.secret_access_key);
	curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(q->curl, CURLOPT_POSTFIELDS, q->req.p);
	curl_easy_setopt(q->curl, CURLOPT_POSTFIELDSIZE, (long)q->req.len);
	curl_easy_setopt(q->curl, CURLOPT_TIMEOUT, timeout_s);
	obuf_clear(&q->resp);
	q->resp_overflow = 0;
	rc = curl_easy_perform(q->curl);
	curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		snprintf(q->err, sizeof(q->err), "%s: %s", action,
		    q->resp_overflow ? "response too large" :
		    curl_easy_strerror(rc));
		/* What retrying cannot mend: a bad URL, a bad certificate. */
		if (q->resp_overflow || rc == CURLE_URL_MALFORMAT ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL ||
		    rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE)
			return EX_REFUSED;
		return EX_RETRY;
	}
	curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &http);
	if (p != SQS_QUERY && !looks_json(q) && http != 429 && http < 500)
		return EX_NOT_JSON;
	if (parse_answer(q, p) < 0) {
		snprintf(q->err, sizeof(q->err), "%s: HTTP %ld, answer not %s",
		    action, http, p == SQS_QUERY ? "XML" : "JSON");
		return http >= 500 ? EX_RETRY : EX_REFUSED;
	}
	if (http >= 200 && http < 300)
		ex = EX_OK;
	else
		ex = describe_failure(q, action, http) ? EX_RETRY : EX_REFUSED;
	return ex;
}

/* Builds a request with build(q, protocol, arg) and exchanges it,
 * retrying what is worth it and choosing the protocol on first use. */
static enum sqs_status
call(struct sqs *q, const char *action, long timeout_s,
    void (*build)(struct sqs *, enum sqs_protocol, const void *),
    const void *arg)
{
	for (int attempt = 0; attempt < q->max_attempts; attempt++) {
		enum sqs_protocol p = q->proto == SQS_QUERY ? SQS_QUERY :
		    SQS_JSON;
		enum exchange ex;

		if (attempt > 0)
			backoff(attempt);
		if (q->receiving && *q->stop)
			return SQS_EFAILED;	/* asked to stop: no retry */
		build(q, p, arg);
		ex = exchange(q, p, action, timeout_s);
		if (ex == EX_NOT_JSON && q->proto == SQS_AUTO) {
			/* It does not speak JSON: speak Query from now on. */
			q->proto = SQS_QUERY;
			build(q, SQS_QUERY, arg);
			ex = exchange(q, SQS_QUERY, action, timeout_s);
		} else if (ex == EX_NOT_JSON) {
			snprintf(q->err, sizeof(q->err), "%s: the answer is not "
			    "JSON (try --protocol query)", action);
			return SQS_EREFUSED;
		}
		if (q->proto == SQS_AUTO && ex == EX_OK)
			q->proto = p;
		if (ex == EX_OK)
			return SQS_OK;
		if (ex == EX_REFUSED)
			return SQS_EREFUSED;
	}
	return SQS_EFAILED;
}

/* ---- operations ------------------------------------------------------ */

struct receive_args {
	int max, wait, visibility;
};

static void
build_receive(struct sqs *q, enum sqs_protocol p, const void *arg)
{
	const struct receive_args *a = arg;
	struct obuf *b = &q->req;

	request_start(q, p, "ReceiveMessage");
	if (p == SQS_QUERY) {
		form_int(b, "MaxNumberOfMessages", a->max);
		form_int(b, "WaitTimeSeconds", a->wait);
		if (a->visibility >= 0)
			form_int(b, "VisibilityTimeout", a->visibility);
		form(b, "AttributeName.1", "SentTimestamp", 13);
		form(b, "AttributeName.2", "ApproximateReceiveCount", 23);
		return;
	}
	obuf_puts(b, ",\"MaxNumberOfMessages\":");
	obuf_putll(b, a->max);
	obuf_puts(b, ",\"WaitTimeSeconds\":");
	obuf_putll(b, a->wait);
	if (a->visibility >= 0) {
		obuf_puts(b, ",\"VisibilityTimeout\":");
		obuf_putll(b, a->visibility);
	}
	/* Both names: AttributeNames is deprecated, some servers know only it. */
	obuf_puts(b, ",\"AttributeNames\":[\"SentTimestamp\","
	    "\"ApproximateReceiveCount\"],\"MessageSystemAttributeNames\":"
	    "[\"SentTimestamp\",\"ApproximateReceiveCount\"]}");
}

static void
md5_hex(const char *s, size_t n, char out[33])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[16];

	if (!EVP_Digest(s, n, md, NULL, EVP_md5(), NULL))
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0xf];
	}
	out[32] = '\0';
}

enum sqs_status
sqs_receive(struct sqs *q, int max, int wait_seconds, int visibility_timeout,
    sqs_message_fn *fn, void *ctx, int *count, int *skipped)
{
	struct receive_args a = { max, wait_seconds, visibility_timeout };
	enum sqs_status st;

	*count = *skipped = 0;
	if (q->stop != NULL) {
		q->receiving = 1;
		curl_easy_setopt(q->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(q->curl, CURLOPT_XFERINFODATA, q);
		curl_easy_setopt(q->curl, CURLOPT_NOPROGRESS, 0L);
	}
	st = call(q, "ReceiveMessage", wait_seconds + 30L, build_receive, &a);
	curl_easy_setopt(q->curl, CURLOPT_NOPROGRESS, 1L);
	if (q->receiving && *q->stop) {
		q->receiving = 0;
		return SQS_OK;		/* abandoned: nothing received */
	}
	q->receiving = 0;
	if (st != SQS_OK)
		return st;
	for (size_t i = 0; i < q->ans.nmsgs; i++) {
		const struct sqsresp_message *r = &q->ans.msgs[i];
		struct sqs_message m;
		char md5[33];

		if (r->message_id == NULL || r->receipt_handle == NULL ||
		    r->body == NULL) {
			++*skipped;
			continue;
		}
		m.message_id = r->message_id;
		m.receipt_handle = r->receipt_handle;
		m.body = r->body;
		m.body_len = r->body_len;
		/* A body damaged on the way stays on the queue; it comes
		 * back, and after enough tries is parked by the redrive. */
		md5_hex(m.body, m.body_len, md5);
		if (r->md5_of_body != NULL &&
		    strcasecmp(md5, r->md5_of_body) != 0) {
			++*skipped;
			continue;
		}
		m.sent_timestamp = r->sent_timestamp;
		m.receive_count = r->receive_count;
		fn(ctx, &m);
		++*count;
	}
	return SQS_OK;
}

struct delete_args {
	struct sqs_delete *e;
	size_t n;
	const int *pending;	/* which entries to send */
};

static void
build_delete(struct sqs *q, enum sqs_protocol p, const void *arg)
{
	const struct delete_args *a = arg;
	struct obuf *b = &q->req;
	int k = 0;

	request_start(q, p, "DeleteMessageBatch");
	if (p != SQS_QUERY)
		obuf_puts(b, ",\"Entries\":[");
	for (size_t i = 0; i < a->n; i++) {
		const char *rh = a->e[i].receipt_handle;
		char name[64], id[24];

		if (!a->pending[i])
			continue;
		/* Ids are the positions: unique, and all the service needs. */
		snprintf(id, sizeof(id), "%zu", i);
		k++;
		if (p == SQS_QUERY) {
			snprintf(name, sizeof(name),
			    "DeleteMessageBatchRequestEntry.%d.Id", k);
			form(b, name, id, strlen(id));
			snprintf(name, sizeof(name),
			    "DeleteMessageBatchRequestEntry.%d.ReceiptHandle", k);
			form(b, name, rh, strlen(rh));
			continue;
		}
		obuf_puts(b, k > 1 ? ",{\"Id\":\"" : "{\"Id\":\"");
		obuf_puts(b, id);
		obuf_puts(b, "\",\"ReceiptHandle\":");
		jsonw_string(b, rh, strlen(rh));
		obuf_putc(b, '}');
	}
	if (p != SQS_QUERY)
		obuf_puts(b, "]}");
}

enum sqs_status
sqs_delete_batch(struct sqs *q, struct sqs_delete *e, size_t n)
{
	int pending[SQS_MAX_BATCH];
	struct delete_args a = { e, n, pending };
	size_t left = n;

	if (n > SQS_MAX_BATCH)
		n = a.n = left = SQS_MAX_BATCH;
	for (size_t i = 0; i < n; i++) {
		pending[i] = 1;
		e[i].deleted = e[i].stale = 0;
		snprintf(e[i].code, sizeof(e[i].code), "NoAnswer");
	}
	for (int attempt = 0; left > 0 && attempt < q->max_attempts;
	    attempt++) {
		enum sqs_status st;

		if (attempt > 0)
			backoff(attempt);
		if ((st = call(q, "DeleteMessageBatch", 30L, build_delete,
		    &a)) != SQS_OK)
			return st;
		for (size_t j = 0; j < q->ans.nents; j++) {
			const struct sqsresp_entry *r = &q->ans.ents[j];
			const char *ids = r->id, *code;
			unsigned long k;

			if (ids == NULL || (k = strtoul(ids, NULL, 10)) >= n ||
			    !pending[k])
				continue;
			if (!r->failed) {
				e[k].deleted = 1;
				pending[k] = 0;
				left--;
				continue;
			}
			code = r->code != NULL ? r->code : "Unknown";
			snprintf(e[k].code, sizeof(e[k].code), "%s", code);
			e[k].stale = strcmp(code, "ReceiptHandleIsInvalid") == 0;
			/* The service's own fault may pass; the sender's not. */
			if (r->sender_fault) {
				pending[k] = 0;
				left--;
			}
		}
	}
	return SQS_OK;
}

struct send_args {
	const char *body;
	size_t len;
};

static void
build_send(struct sqs *q, enum sqs_protocol p, const void *arg)
{
	const struct send_args *a = arg;

	request_start(q, p, "SendMessage");
	if (p == SQS_QUERY) {
		form(&q->req, "MessageBody", a->body, a->len);
		return;
	}
	obuf_puts(&q->req, ",\"MessageBody\":");
	jsonw_string(&q->req, a->body, a->len);
	obuf_putc(&q->req, '}');
}

enum sqs_status
sqs_send(struct sqs *q, const char *body, size_t len)
{
	struct send_args a = { body, len };
	enum sqs_status st;
	char md5[33];

	if ((st = call(q, "SendMessage", 30L, build_send, &a)) != SQS_OK)
		return st;
	md5_hex(body, len, md5);
	if (q->ans.md5_of_message_body == NULL ||
	    strcasecmp(md5, q->ans.md5_of_message_body) != 0) {
		snprintf(q->err, sizeof(q->err), "SendMessage: the service "
		    "stored a body that does not match what was sent");
		return SQS_EFAILED;
	}
	return SQS_OK;
}
