/*
 * awssts.c - temporary credentials from AWS STS for a role: AssumeRole,
 * signed with the credentials of a source, and AssumeRoleWithWebIdentity,
 * with a token read from its file at every call (it rotates).  See
 * aws_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "aws_int.h"
#include "obuf.h"
#include "xml.h"

#define STS_VERSION "2011-06-15"
#define STS_MAX_TOKEN 16384	/* a web identity token (a JWT) */

/* What the answer says. */
struct answer {
	char *key, *secret, *token, *expiration, *code, *message;
};

static void
answer_leaf(void *ctx, const char *parent, const char *name, const char *text,
    size_t len)
{
	struct answer *a = ctx;
	char **slot = NULL;

	if (strcmp(parent, "Credentials") == 0) {
		if (strcmp(name, "AccessKeyId") == 0)
			slot = &a->key;
		else if (strcmp(name, "SecretAccessKey") == 0)
			slot = &a->secret;
		else if (strcmp(name, "SessionToken") == 0)
			slot = &a->token;
		else if (strcmp(name, "Expiration") == 0)
			slot = &a->expiration;
	} else if (strcmp(parent, "Error") == 0) {
		if (strcmp(name, "Code") == 0)
			slot = &a->code;
		else if (strcmp(name, "Message") == 0)
			slot = &a->message;
	}
	if (slot != NULL && *slot == NULL)
		*slot = strndup(text, len);
}

static void
answer_end(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
}

static void
answer_free(struct answer *a)
{
	free(a->key);
	aws_wipe_free(a->secret);
	aws_wipe_free(a->token);
	free(a->expiration);
	free(a->code);
	free(a->message);
}

/* ",&Name=value", the value form-encoded. */
static void
form(struct obuf *b, CURL *curl, const char *name, const char *value)
{
	char *v = curl_easy_escape(curl, value, 0);

	obuf_putc(b, '&');
	obuf_puts(b, name);
	obuf_putc(b, '=');
	if (v != NULL)
		obuf_puts(b, v);
	else
		b->oom = 1;
	if (v != NULL)
		OPENSSL_cleanse(v, strlen(v));
	curl_free(v);
}

/* The web identity token, from its file. */
static char *
read_token(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *tok = calloc(1, STS_MAX_TOKEN + 1);
	size_t n = 0;

	if (f == NULL || tok == NULL) {
		snprintf(err, errlen, "web identity token file %s: cannot be "
		    "read", path);
		if (f != NULL)
			fclose(f);
		free(tok);
		return NULL;
	}
	n = fread(tok, 1, STS_MAX_TOKEN, f);
	fclose(f);
	while (n > 0 && strchr(" \t\r\n", tok[n - 1]) != NULL)
		tok[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "web identity token file %s: empty", path);
		free(tok);
		return NULL;
	}
	return tok;
}

/* The STS endpoint: $AWS_ENDPOINT_URL_STS, $AWS_ENDPOINT_URL, else the
 * region's, in its partition. */
static char *
sts_endpoint(const struct aws_config *c, char *err, size_t errlen)
{
	const char *v = getenv("AWS_ENDPOINT_URL_STS");
	char *url;

	if (v == NULL || *v == '\0')
		v = getenv("AWS_ENDPOINT_URL");
	if (v != NULL && *v != '\0')
		return strdup(v);
	if (aws_default_endpoint(&url, "sts", c->region, c->use_fips,
	    c->use_dualstack, err, errlen) < 0)
		return NULL;
	return url;
}

int
aws_sts_assume(struct aws_config *c, const struct aws_role *r,
    const struct aws_config *source, char *err, size_t errlen)
{
	const char *action = source != NULL ? "AssumeRole" :
	    "AssumeRoleWithWebIdentity";
	struct answer a = { NULL, NULL, NULL, NULL, NULL, NULL };
	struct obuf body = { .len = 0 }, resp = { .len = 0 };
	struct curl_slist *h = NULL;
	char *url = NULL, *token = NULL, *userpwd = NULL, sigv4[96],
	    session[64], header[4200];
	long status = 0;
	int ret = -1;
	CURL *curl;

	if ((curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((url = sts_endpoint(c, err, errlen)) == NULL)
		goto out;
	if (source == NULL &&
	    (token = read_token(r->token_file, err, errlen)) == NULL)
		goto out;
	snprintf(session, sizeof(session), "fetch-awards-%ld",
	    (long)getpid());
	obuf_puts(&body, "Action=");
	obuf_puts(&body, action);
	obuf_puts(&body, "&Version=" STS_VERSION);
	form(&body, curl, "RoleArn", r->role_arn);
	form(&body, curl, "RoleSessionName", r->session_name != NULL ?
	    r->session_name : session);
	if (r->external_id != NULL)
		form(&body, curl, "ExternalId", r->external_id);
	if (r->duration_seconds > 0) {
		char d[24];

		snprintf(d, sizeof(d), "%ld", r->duration_seconds);
		form(&body, curl, "DurationSeconds", d);
	}
	if (token != NULL)
		form(&body, curl, "WebIdentityToken", token);
	if (body.oom) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	h = curl_slist_append(NULL,
	    "Content-Type: application/x-www-form-urlencoded");
	if (source != NULL) {
		/* signed like every other request, by the source */
		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:sts", c->region);
		curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
		if (asprintf(&userpwd, "%s:%s", source->access_key_id,
		    source->secret_access_key) < 0)
			userpwd = NULL;
		curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
		if (source->session_token != NULL) {
			snprintf(header, sizeof(header),
			    "X-Amz-Security-Token: %s", source->session_token);
			h = curl_slist_append(h, header);
			OPENSSL_cleanse(header, sizeof(header));
		}
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.p);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, aws_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_bundle != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_bundle);
	if (curl_easy_perform(curl) != CURLE_OK) {
		snprintf(err, errlen, "STS %s for %.200s: no answer from %.200s",
		    action, r->role_arn, url);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (resp.len == 0 || xml_walk(resp.p, resp.len, &(struct xml_handler){
	    answer_leaf, answer_end }, &a) < 0)
		a.code = NULL;
	if (status != 200 || a.key == NULL || a.secret == NULL) {
		snprintf(err, errlen, "STS %s for %.200s: %s%s%.200s", action,
		    r->role_arn, a.code != NULL ? a.code : status != 200 ?
		    "refused" : "no credentials in the answer",
		    a.message != NULL ? ": " : "",
		    a.message != NULL ? a.message : "");
		goto out;
	}
	aws_drop_credentials(c);
	c->access_key_id = a.key;
	c->secret_access_key = a.secret;
	c->session_token = a.token;
	c->expiration = a.expiration != NULL ? aws_parse_time(a.expiration) : 0;
	a.key = a.secret = a.token = NULL;
	ret = 0;
out:
	answer_free(&a);
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	free(url);
	aws_wipe_free(token);
	aws_wipe_free(userpwd);
	if (body.p != NULL)
		OPENSSL_cleanse(body.p, body.cap);
	if (resp.p != NULL)
		OPENSSL_cleanse(resp.p, resp.cap);
	obuf_free(&body);
	obuf_free(&resp);
	return ret;
}
