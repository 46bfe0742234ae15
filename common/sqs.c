/*
 * sqs.c - a client of one SQS queue over the JSON or Query protocol.
 * See sqs.h.
 *
 * Every request is a struct sqs_call: a curl easy handle, the request
 * and response bodies, the parsed answer (sqsresp.h) and where it stands
 * in its retries.  All the calls of a client are driven by one curl multi
 * handle, which keeps the connections and hands them from one request to
 * the next.  A call goes
 *
 *   idle -> sending -> (waiting to retry -> sending)... -> ended -> idle
 *
 * and sqs_run() moves them along: it sends calls whose backoff is over,
 * lets curl work until something happens, and classifies each finished
 * transfer.  The blocking sqs_send() is the same machinery on the
 * client's own call, driven until it ends.  Request bodies come from
 * sqsreq.c; answers are read in sqsanswer.c.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aws.h"
#include "backoff.h"
#include "jsonw.h"
#include "obuf.h"
#include "sqs.h"
#include "sqsreq.h"
#include "sqs_int.h"
#include "sqsresp.h"

const char *const sqs_actions[] = {
	[OP_RECEIVE] = "ReceiveMessage",
	[OP_DELETE] = "DeleteMessageBatch",
	[OP_SEND] = "SendMessage",
	[OP_HIDE] = "ChangeMessageVisibilityBatch",
};


const char *
sqs_error(const struct sqs *q)
{
	return q->own->err;
}

size_t
sqs_busy(const struct sqs *q)
{
	return q->busy;
}

enum sqs_status
sqs_call_status(const struct sqs_call *c)
{
	return c->status;
}

const char *
sqs_call_error(const struct sqs_call *c)
{
	return c->err;
}

/* ---- opening ----------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sqs_call *c = ctx;
	size_t n = size * nmemb;

	if (c->resp.len + n + 1 > SQS_MAX_RESPONSE) {
		c->resp_overflow = 1;
		return 0;	/* makes curl fail the transfer */
	}
	obuf_put(&c->resp, data, n);
	return c->resp.oom ? 0 : n;
}

struct sqs_call *
sqs_call_new(struct sqs *q)
{
	struct sqs_call *c, **calls;

	if (q->ncalls == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 8;

		if ((calls = realloc(q->calls, cap * sizeof(*calls))) == NULL)
			return NULL;
		q->calls = calls;
		q->cap = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	c->q = q;
	curl_easy_setopt(c->curl, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->curl, CURLOPT_URL, q->aws.endpoint);
	curl_easy_setopt(c->curl, CURLOPT_AWS_SIGV4, q->sigv4);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* TLS peers are always verified; only the CAs can be changed. */
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (q->ca_bundle != NULL)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, q->ca_bundle);
	q->calls[q->ncalls++] = c;
	return c;
}

/* Frees c; a request under way is abandoned. */
static void
sqs_call_free(struct sqs_call *c)
{
	struct sqs *q;

	if (c == NULL)
		return;
	q = c->q;
	if (c->state == C_SENDING)
		curl_multi_remove_handle(q->multi, c->curl);
	if (c->state != C_IDLE)
		q->busy--;
	for (size_t i = 0; i < q->ncalls; i++)
		if (q->calls[i] == c) {
			q->calls[i] = q->calls[--q->ncalls];
			break;
		}
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->hdrs);
	obuf_free(&c->req);
	obuf_free(&c->resp);
	sqsresp_free(&c->ans);
	free(c);
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
	q->wait_out_outages = o->wait_out_outages;
	q->outage = o->outage;
	q->max_attempts = SQS_DEFAULT_ATTEMPTS;
	if ((v = getenv("AWS_MAX_ATTEMPTS")) != NULL && atoi(v) > 0)
		q->max_attempts = atoi(v);
	/* --ca-bundle, else $AWS_CA_BUNDLE or the profile's (aws.h) */
	v = o->ca_bundle != NULL ? o->ca_bundle : q->aws.ca_bundle;
	if ((q->queue_url = strdup(queue_url)) == NULL ||
	    (v != NULL && (q->ca_bundle = strdup(v)) == NULL) ||
	    asprintf(&q->sigv4, "aws:amz:%s:sqs", q->aws.region) < 0 ||
	    (q->md5 = EVP_MD_fetch(NULL, "MD5", NULL)) == NULL ||
	    (q->multi = curl_multi_init()) == NULL ||
	    (q->own = sqs_call_new(q)) == NULL) {
		snprintf(err, errlen, "out of memory (or an OpenSSL without MD5)");
		sqs_close(q);
		return NULL;
	}
	return q;
}

void
sqs_close(struct sqs *q)
{
	if (q == NULL)
		return;
	while (q->ncalls > 0)
		sqs_call_free(q->calls[q->ncalls - 1]);
	free(q->calls);
	if (q->multi != NULL)
		curl_multi_cleanup(q->multi);
	aws_config_free(&q->aws);
	free(q->queue_url);
	free(q->ca_bundle);
	free(q->sigv4);
	EVP_MD_free(q->md5);
	free(q);
}

/* ---- one attempt ------------------------------------------------------- */

void
sqs_call_end(struct sqs_call *c, enum sqs_status st)
{
	c->status = st;
	c->state = C_ENDED;
}

/* The attempt failed in a way retrying may mend (c->err says how). */
static void
retry_later(struct sqs_call *c)
{
	const struct sqs *q = c->q;
	/* An outage is waited out only until the tool is asked to stop:
	 * then the attempts count again, and a drain ends. */
	int patient = q->wait_out_outages && (q->stop == NULL || !*q->stop);

	if (!patient && c->attempt >= q->max_attempts) {
		sqs_call_end(c, SQS_EFAILED);
		return;
	}
	outage_retry(q->outage, 1, c->err);
	c->due_ms = backoff_now_ms() +
	    backoff_jitter_ms(c->attempt, SQS_BACKOFF_BASE_MS, SQS_BACKOFF_CAP_MS);
	c->state = C_WAITING;
}

/* Builds the request in the protocol in use and hands it to curl. */
static void
attempt(struct sqs_call *c)
{
	struct sqs *q = c->q;
	const char *action = sqs_actions[c->op];
	struct curl_slist *h;
	char target[96], token[4096];

	c->attempt++;
	/* Temporary credentials are fetched again before they expire. */
	if (aws_credentials_fresh(&q->aws, c->err, sizeof(c->err)) < 0) {
		retry_later(c);
		return;
	}
	c->p = q->proto == SQS_QUERY ? SQS_QUERY : SQS_JSON;
	if (c->op == OP_RECEIVE)
		sqsreq_receive(&c->req, c->p, q->queue_url, c->max, c->wait,
		    c->visibility);
	else if (c->op == OP_DELETE)
		sqsreq_delete(&c->req, c->p, q->queue_url, c->e, c->pending,
		    c->n);
	else if (c->op == OP_HIDE)
		sqsreq_hide(&c->req, c->p, q->queue_url, c->e, c->pending,
		    c->n);
	else
		sqsreq_send(&c->req, c->p, q->queue_url, c->body, c->body_len);
	snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s", action);
	h = curl_slist_append(NULL, c->p == SQS_QUERY ?
	    "Content-Type: application/x-www-form-urlencoded" :
	    "Content-Type: application/x-amz-json-1.0");
	if ((c->hdrs = h) != NULL && c->p != SQS_QUERY)
		c->hdrs = h = curl_slist_append(h, target);
	/* curl copies them: the renewal may swap them right after */
	aws_credentials_lock(&q->aws);
	if (h != NULL && q->aws.session_token != NULL) {
		snprintf(token, sizeof(token), "X-Amz-Security-Token: %s",
		    q->aws.session_token);
		c->hdrs = h = curl_slist_append(h, token);
		OPENSSL_cleanse(token, sizeof(token));
	}
	curl_easy_setopt(c->curl, CURLOPT_USERNAME, q->aws.access_key_id);
	curl_easy_setopt(c->curl, CURLOPT_PASSWORD, q->aws.secret_access_key);
	aws_credentials_unlock(&q->aws);
	if (h == NULL || c->req.oom) {
		snprintf(c->err, sizeof(c->err), "%s: out of memory", action);
		sqs_call_end(c, SQS_EREFUSED);
		return;
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->req.p);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)c->req.len);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT,
	    c->op == OP_RECEIVE ? c->wait + 30L : 30L);
	obuf_clear(&c->resp);
	c->resp_overflow = 0;
	if (curl_multi_add_handle(q->multi, c->curl) != CURLM_OK) {
		snprintf(c->err, sizeof(c->err), "%s: out of memory", action);
		sqs_call_end(c, SQS_EFAILED);
		return;
	}
	c->state = C_SENDING;
}

/* A transfer of c is over, with curl's result rc: what now? */
static void
transferred(struct sqs_call *c, CURLcode rc)
{
	struct sqs *q = c->q;
	const char *action = sqs_actions[c->op];
	long http = 0;

	curl_multi_remove_handle(q->multi, c->curl);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	if (rc != CURLE_OK) {
		snprintf(c->err, sizeof(c->err), "%s: %s", action,
		    c->resp_overflow ? "response too large" :
		    curl_easy_strerror(rc));
		/* What retrying cannot mend: a bad URL, a bad certificate. */
		if (c->resp_overflow || rc == CURLE_URL_MALFORMAT ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL ||
		    rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE)
			sqs_call_end(c, SQS_EREFUSED);
		else
			retry_later(c);
		return;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
	if (c->p == SQS_JSON && !sqs_answer_looks_json(c) && http != 429 && http < 500) {
		/* It does not speak JSON.  Under SQS_AUTO, speak Query from
		 * now on (another call may have found out already). */
		if (q->proto == SQS_JSON) {
			snprintf(c->err, sizeof(c->err), "%s: the answer is not "
			    "JSON (try --protocol query)", action);
			sqs_call_end(c, SQS_EREFUSED);
			return;
		}
		q->proto = SQS_QUERY;
		c->attempt--;	/* not a failure: a question of language */
		attempt(c);
		return;
	}
	if (sqs_answer_parse(c) < 0) {
		snprintf(c->err, sizeof(c->err), "%s: HTTP %ld, answer not %s",
		    action, http, c->p == SQS_QUERY ? "XML" : "JSON");
		if (http >= 500)
			retry_later(c);
		else
			sqs_call_end(c, SQS_EREFUSED);
		return;
	}
	if (http < 200 || http >= 300) {
		if (sqs_answer_failure(c, http))
			retry_later(c);
		else {
			outage_answered(q->outage);
			sqs_call_end(c, SQS_EREFUSED);
		}
		return;
	}
	outage_answered(q->outage);
	if (q->proto == SQS_AUTO)
		q->proto = c->p;
	sqs_answered(c);
}

/* ---- driving the calls ------------------------------------------------- */

static void
start(struct sqs_call *c, enum call_op op)
{
	c->op = op;
	c->attempt = c->round = 0;
	c->abandoned = 0;
	c->status = SQS_OK;
	c->err[0] = '\0';
	c->q->busy++;
	attempt(c);
}

void
sqs_call_receive(struct sqs_call *c, int max, int wait_seconds,
    int visibility_timeout)
{
	c->max = max;
	c->wait = wait_seconds;
	c->visibility = visibility_timeout;
	start(c, OP_RECEIVE);
}

static void
start_batch(struct sqs_call *c, enum call_op op, struct sqs_delete *e,
    size_t n)
{
	c->e = e;
	c->n = n > SQS_MAX_BATCH ? SQS_MAX_BATCH : n;
	for (size_t i = 0; i < c->n; i++) {
		c->pending[i] = 1;
		e[i].deleted = e[i].stale = 0;
		snprintf(e[i].code, sizeof(e[i].code), "NoAnswer");
	}
	start(c, op);
}

void
sqs_call_delete(struct sqs_call *c, struct sqs_delete *e, size_t n)
{
	start_batch(c, OP_DELETE, e, n);
}

void
sqs_call_hide(struct sqs_call *c, struct sqs_delete *e, size_t n)
{
	start_batch(c, OP_HIDE, e, n);
}

/* Gives up the receives under way: the tool was asked to stop. */
static void
abandon_receives(struct sqs *q)
{
	for (size_t i = 0; i < q->ncalls; i++) {
		struct sqs_call *c = q->calls[i];

		if (c->op != OP_RECEIVE ||
		    (c->state != C_SENDING && c->state != C_WAITING))
			continue;
		if (c->state == C_SENDING) {
			curl_multi_remove_handle(q->multi, c->curl);
			curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
			curl_slist_free_all(c->hdrs);
			c->hdrs = NULL;
		}
		c->abandoned = 1;
		sqs_call_end(c, SQS_OK);
	}
}

/*
 * One round: sends the calls whose backoff is over, then lets curl work
 * for at most wait_ms, or until fd has input.  Returns 1 when fd has
 * input (or is at its end), else 0.
 */
static int
drive(struct sqs *q, int fd, short events, long wait_ms)
{
	struct curl_waitfd extra = { .fd = fd, .events = events == POLLOUT ?
	    CURL_WAIT_POLLOUT : CURL_WAIT_POLLIN };
	long long now = backoff_now_ms();
	struct pollfd pfd = { .fd = fd, .events = events };
	int running, left, n;
	CURLMsg *m;

	if (q->stop != NULL && *q->stop)
		abandon_receives(q);
	for (size_t i = 0; i < q->ncalls; i++) {
		struct sqs_call *c = q->calls[i];

		if (c->state != C_WAITING)
			continue;
		if (c->due_ms <= now)
			attempt(c);
		else if (c->due_ms - now < wait_ms || wait_ms < 0)
			wait_ms = (long)(c->due_ms - now);
	}
	if (wait_ms < 0 || wait_ms > SQS_STOP_CHECK_MS)
		wait_ms = SQS_STOP_CHECK_MS;
	curl_multi_perform(q->multi, &running);
	while ((m = curl_multi_info_read(q->multi, &left)) != NULL) {
		struct sqs_call *c;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
		transferred(c, m->data.result);
		wait_ms = 0;	/* hand it back before sleeping */
	}
	if (wait_ms > 0)
		curl_multi_poll(q->multi, fd >= 0 ? &extra : NULL,
		    fd >= 0 ? 1 : 0, (int)wait_ms, NULL);
	/* Not curl's answer about fd: it leaves out end of input (POLLHUP). */
	n = fd >= 0 ? poll(&pfd, 1, 0) : 0;
	return n > 0;
}

/* Hands back an ended call, if any. */
static struct sqs_call *
take_ended(struct sqs *q)
{
	for (size_t i = 0; i < q->ncalls; i++) {
		struct sqs_call *c = q->calls[i];

		if (c->state == C_ENDED && c != q->own) {
			c->state = C_IDLE;
			q->busy--;
			return c;
		}
	}
	return NULL;
}

struct sqs_call *
sqs_run(struct sqs *q, int fd, short events, int timeout_ms)
{
	long long deadline = timeout_ms >= 0 ?
	    backoff_now_ms() + timeout_ms : -1;
	struct sqs_call *c;

	for (;;) {
		long wait = deadline < 0 ? -1 : (long)(deadline - backoff_now_ms());

		if ((c = take_ended(q)) != NULL)
			return c;
		if (q->busy == 0 && fd < 0)
			return NULL;	/* nothing could ever end */
		if (fd >= 0 && events == POLLIN && q->stop != NULL && *q->stop)
			return NULL;	/* input is no longer wanted */
		if (drive(q, fd, events, wait < 0 && deadline >= 0 ? 0 : wait))
			return take_ended(q);	/* fd is ready */
		if ((c = take_ended(q)) != NULL)
			return c;
		if (deadline >= 0 && backoff_now_ms() >= deadline)
			return NULL;
	}
}

/* ---- the blocking send ------------------------------------------------ */

/* Drives the client's own call, started, until it ends. */
static enum sqs_status
run_own(struct sqs *q)
{
	struct sqs_call *c = q->own;

	while (c->state != C_ENDED)
		(void)drive(q, -1, 0, -1);
	c->state = C_IDLE;
	q->busy--;
	return c->status;
}

enum sqs_status
sqs_send(struct sqs *q, const char *body, size_t len)
{
	q->own->body = body;
	q->own->body_len = len;
	start(q->own, OP_SEND);
	return run_own(q);
}
