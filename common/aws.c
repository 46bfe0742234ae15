/*
 * aws.c - endpoint, region and credentials, as the AWS SDKs resolve them.
 * See aws.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "aws_int.h"
#include "obuf.h"

#define REFRESH_MARGIN 300	/* seconds before expiry to fetch again */
#define REFRESH_URGENT 60	/* ... and to stop and wait for it */
#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"

void
aws_wipe_free(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
aws_drop_credentials(struct aws_config *c)
{
	free(c->access_key_id);
	aws_wipe_free(c->secret_access_key);
	aws_wipe_free(c->session_token);
	c->access_key_id = c->secret_access_key = c->session_token = NULL;
	c->expiration = 0;
}

int
aws_set_credentials(struct aws_config *c, const char *key, const char *secret,
    const char *token, const char *expiration)
{
	aws_drop_credentials(c);
	c->access_key_id = strdup(key);
	c->secret_access_key = strdup(secret);
	c->session_token = token != NULL ? strdup(token) : NULL;
	c->expiration = expiration != NULL ? aws_parse_time(expiration) : 0;
	if (c->access_key_id == NULL || c->secret_access_key == NULL ||
	    (token != NULL && c->session_token == NULL)) {
		aws_drop_credentials(c);
		return -1;
	}
	return 0;
}

int
aws_from_env(struct aws_config *c)
{
	const char *k = aws_env("AWS_ACCESS_KEY_ID", NULL),
	    *s = aws_env("AWS_SECRET_ACCESS_KEY", NULL);

	if (k == NULL || s == NULL)
		return 0;
	return aws_set_credentials(c, k, s, aws_env("AWS_SESSION_TOKEN", NULL),
	    NULL) < 0 ? -1 : 1;
}

static void join_refresher(struct aws_config *c);

void
aws_config_free(struct aws_config *c)
{
	join_refresher(c);
	aws_drop_credentials(c);
	free(c->endpoint);
	free(c->region);
	free(c->ca_bundle);
	pthread_mutex_destroy(&c->mu);
	memset(c, 0, sizeof(*c));
}

/* ---- temporary credentials over HTTP --------------------------------- */

size_t
aws_collect(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct obuf *b = ctx;

	if (b->len + size * nmemb > AWS_MAX_ANSWER)
		return 0;
	obuf_put(b, data, size * nmemb);
	return size * nmemb;
}

/* One short request to a credentials endpoint on the local network.
 * Returns the HTTP status, or -1; the body is in out, NUL-terminated. */
static long
fetch(const char *method, const char *url, const char *header,
    struct obuf *out)
{
	struct curl_slist *h = NULL;
	CURL *curl = curl_easy_init();
	long status = -1;

	obuf_clear(out);
	if (curl == NULL)
		return -1;
	if (header != NULL)
		h = curl_slist_append(NULL, header);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, aws_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* The metadata services answer at once or are not there. */
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(h);
	obuf_putc(out, '\0');
	return out->oom ? -1 : status;
}

time_t
aws_parse_time(const char *iso)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	return timegm(&tm);
}

/* Takes AccessKeyId, SecretAccessKey, Token and Expiration from a JSON
 * credentials document.  Returns 0, or -1. */
static int
take_json_credentials(struct aws_config *c, const char *json)
{
	const char *ak[] = { "AccessKeyId", NULL }, *sk[] = { "SecretAccessKey",
	    NULL }, *tk[] = { "Token", NULL }, *ex[] = { "Expiration", NULL };
	yajl_val tree = yajl_tree_parse(json, NULL, 0), a, s, t, e;
	int ok = 0;

	a = yajl_tree_get(tree, ak, yajl_t_string);
	s = yajl_tree_get(tree, sk, yajl_t_string);
	t = yajl_tree_get(tree, tk, yajl_t_string);
	e = yajl_tree_get(tree, ex, yajl_t_string);
	if (a != NULL && s != NULL)
		ok = aws_set_credentials(c, a->u.string, s->u.string,
		    t ? t->u.string : NULL, e ? e->u.string : NULL) == 0;
	yajl_tree_free(tree);
	return ok ? 0 : -1;
}

/* What the SDKs let AWS_CONTAINER_CREDENTIALS_FULL_URI be: https to any
 * host; plain http only to a loopback address or to the link-local
 * addresses of the ECS agent and the EKS Pod Identity agent (a token
 * sent in clear anywhere else could be read on the way). */
static int
container_uri_allowed(const char *uri)
{
	static const char *const hosts[] = { "localhost", "169.254.170.2",
	    "169.254.170.23", "[fd00:ec2::23]", "fd00:ec2::23", "[::1]", "::1",
	    NULL };
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (strcmp(scheme, "https") == 0)
			ok = 1;
		else if (strcmp(scheme, "http") == 0) {
			ok = strncmp(host, "127.", 4) == 0 &&
			    strspn(host, "0123456789.") == strlen(host);
			for (size_t i = 0; !ok && hosts[i] != NULL; i++)
				ok = strcasecmp(host, hosts[i]) == 0;
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* The container credentials endpoint, if this is a container. */
int
aws_from_container(struct aws_config *c, char *err, size_t errlen, int *tried)
{
	const char *full = aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL);
	const char *rel = aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	    NULL);
	const char *tok = aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL);
	const char *tokfile = aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    NULL);
	char *url = NULL, *header = NULL, *filetok = NULL;
	struct obuf body = { .len = 0 };
	long status;
	int r = -1;

	if (full == NULL && rel == NULL)
		return -1;
	*tried = 1;
	if (full != NULL && !container_uri_allowed(full)) {
		snprintf(err, errlen, "container credentials endpoint: "
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http "
		    "to a loopback address or to 169.254.170.2, "
		    "169.254.170.23 or fd00:ec2::23");
		return -1;
	}
	if (full != NULL)
		url = strdup(full);
	else if (asprintf(&url, "%s%s", CONTAINER_HOST, rel) < 0)
		url = NULL;
	if (tok == NULL && tokfile != NULL) {
		FILE *f = fopen(tokfile, "r");
		size_t cap = 0;

		if (f != NULL && getline(&filetok, &cap, f) > 0)
			tok = aws_trim(filetok);
		if (f != NULL)
			fclose(f);
	}
	if (tok != NULL && asprintf(&header, "Authorization: %s", tok) < 0)
		header = NULL;
	if (url == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	status = fetch("GET", url, header, &body);
	if (status != 200 || take_json_credentials(c, body.p) < 0) {
		snprintf(err, errlen, "container credentials endpoint: %s",
		    status < 0 ? "no answer" : status != 200 ?
		    "refused the request" : "answer without credentials");
		goto out;
	}
	c->source = AWS_SOURCE_CONTAINER;
	r = 0;
out:
	free(url);
	aws_wipe_free(header);
	aws_wipe_free(filetok);
	if (body.p != NULL)
		OPENSSL_cleanse(body.p, body.cap);
	obuf_free(&body);
	return r;
}

/* EC2 instance metadata, IMDSv2: a session token, the role, its keys. */
int
aws_from_imds(struct aws_config *c, char *err, size_t errlen, int *tried)
{
	const char *base = aws_env("AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL);
	const char *off = aws_env("AWS_EC2_METADATA_DISABLED", NULL);
	char url[1024], header[1024], role[256];
	struct obuf body = { .len = 0 };
	size_t n;
	int r = -1;

	if (off != NULL && strcasecmp(off, "true") == 0)
		return -1;
	if (base == NULL)
		base = IMDS_DEFAULT;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)n, base);
	if (fetch("PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600",
	    &body) != 200)
		goto out;	/* not on EC2: not an error of its own */
	*tried = 1;
	snprintf(header, sizeof(header), "X-aws-ec2-metadata-token: %s",
	    aws_trim(body.p));
	snprintf(url, sizeof(url),
	    "%.*s/latest/meta-data/iam/security-credentials/", (int)n, base);
	if (fetch("GET", url, header, &body) != 200 || body.len < 2) {
		snprintf(err, errlen, "instance metadata: no IAM role");
		goto out;
	}
	snprintf(role, sizeof(role), "%s", aws_trim(body.p));
	role[strcspn(role, "\n")] = '\0';
	snprintf(url, sizeof(url),
	    "%.*s/latest/meta-data/iam/security-credentials/%s", (int)n, base,
	    role);
	if (fetch("GET", url, header, &body) != 200 ||
	    take_json_credentials(c, body.p) < 0) {
		snprintf(err, errlen, "instance metadata: no credentials for "
		    "the role");
		goto out;
	}
	c->source = AWS_SOURCE_IMDS;
	r = 0;
out:
	OPENSSL_cleanse(header, sizeof(header));
	if (body.p != NULL)
		OPENSSL_cleanse(body.p, body.cap);
	obuf_free(&body);
	return r;
}

/* Web identity from the environment (IRSA): 1, 0 when not set, -1. */
static int
from_web_identity_env(struct aws_config *c, char *err, size_t errlen)
{
	struct aws_role r = {
		.role_arn = aws_env("AWS_ROLE_ARN", NULL),
		.session_name = aws_env("AWS_ROLE_SESSION_NAME", NULL),
		.token_file = aws_env("AWS_WEB_IDENTITY_TOKEN_FILE", NULL),
	};

	if (r.token_file == NULL || r.role_arn == NULL)
		return 0;
	c->source = AWS_SOURCE_WEB_IDENTITY;
	return aws_sts_assume(c, &r, NULL, err, errlen) < 0 ? -1 : 1;
}

/* Resolves credentials down the chain (aws.h).  Returns 0, or -1 with
 * err. */
static int
resolve_credentials(struct aws_config *c, const struct aws_profile *p,
    char *err, size_t errlen)
{
	int found = 0, tried = 0, r;

	aws_drop_credentials(c);
	/* A profile named by AWS_PROFILE is an explicit choice: it comes
	 * before the keys of the environment (which it may use, as
	 * credential_source = Environment). */
	if (p->named) {
		if ((r = aws_profile_credentials(c, p, p->name, &found, err,
		    errlen)) != 0)
			return r < 0 ? -1 : 0;
		snprintf(err, errlen, "profile %s: %s", p->name, found ?
		    "no credentials (keys, role_arn or credential_process)" :
		    "not found in the credentials or config file");
		return -1;
	}
	if ((r = aws_from_env(c)) != 0) {
		c->source = AWS_SOURCE_ENV;
		if (r < 0)
			snprintf(err, errlen, "out of memory");
		return r < 0 ? -1 : 0;
	}
	if ((r = from_web_identity_env(c, err, errlen)) != 0)
		return r < 0 ? -1 : 0;
	if ((r = aws_profile_credentials(c, p, p->name, &found, err,
	    errlen)) != 0)
		return r < 0 ? -1 : 0;
	if (aws_from_container(c, err, errlen, &tried) == 0 ||
	    aws_from_imds(c, err, errlen, &tried) == 0)
		return 0;
	if (!tried)
		snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID "
		    "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE");
	return -1;
}

/* Fetches credentials again from the source that gave c's, into c. */
static int
refresh(struct aws_config *c, enum aws_source source, char *err,
    size_t errlen)
{
	struct aws_profile p;
	int tried = 0, r;

	if (source == AWS_SOURCE_CONTAINER)
		return aws_from_container(c, err, errlen, &tried);
	if (source == AWS_SOURCE_IMDS)
		return aws_from_imds(c, err, errlen, &tried);
	/* A role or a process: the chain again, which reads the token file
	 * again and runs the process again. */
	aws_profile_open(&p);
	r = resolve_credentials(c, &p, err, errlen);
	aws_profile_close(&p);
	return r;
}

/* The refresher thread: fetches into a copy of what the source needs,
 * then swaps the credentials in under the lock.  A failure leaves the
 * old ones, still valid for minutes; the next check tries again. */
static void *
refresher(void *arg)
{
	struct aws_config *c = arg, fresh;
	char err[256];

	memset(&fresh, 0, sizeof(fresh));
	fresh.region = c->region;		/* borrowed, never changed */
	fresh.ca_bundle = c->ca_bundle;
	fresh.use_fips = c->use_fips;
	fresh.use_dualstack = c->use_dualstack;
	if (refresh(&fresh, c->source, err, sizeof(err)) == 0) {
		pthread_mutex_lock(&c->mu);
		aws_drop_credentials(c);
		c->access_key_id = fresh.access_key_id;
		c->secret_access_key = fresh.secret_access_key;
		c->session_token = fresh.session_token;
		c->expiration = fresh.expiration;
		c->source = fresh.source;
		pthread_mutex_unlock(&c->mu);
	} else
		aws_drop_credentials(&fresh);
	atomic_store(&c->refresh_done, 1);
	return NULL;
}

/* Waits for the refresher, if one runs. */
static void
join_refresher(struct aws_config *c)
{
	if (c->refreshing) {
		pthread_join(c->refresher, NULL);
		c->refreshing = 0;
	}
}

int
aws_credentials_fresh(struct aws_config *c, char *err, size_t errlen)
{
	time_t now = time(NULL), expiration;

	if (c->refreshing && atomic_load(&c->refresh_done))
		join_refresher(c);
	pthread_mutex_lock(&c->mu);
	expiration = c->expiration;
	pthread_mutex_unlock(&c->mu);
	if (expiration == 0 || now < expiration - REFRESH_MARGIN)
		return 0;
	/* Still valid for a while: renewed in the background, and calls go
	 * on with these meanwhile (a slow source stalls nothing). */
	if (now < expiration - REFRESH_URGENT) {
		if (!c->refreshing) {
			sigset_t all, old;

			/* Signals are the main thread's to take: they must
			 * interrupt its waits. */
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			atomic_store(&c->refresh_done, 0);
			c->refreshing = pthread_create(&c->refresher, NULL,
			    refresher, c) == 0;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		if (c->refreshing)
			return 0;
	}
	/* About to expire, the background renewal having failed or not
	 * finished: wait for it, then fetch here if need be. */
	join_refresher(c);
	if (c->expiration != 0 && time(NULL) < c->expiration - REFRESH_URGENT)
		return 0;
	return refresh(c, c->source, err, errlen);
}

void
aws_credentials_lock(struct aws_config *c)
{
	pthread_mutex_lock(&c->mu);
}

void
aws_credentials_unlock(struct aws_config *c)
{
	pthread_mutex_unlock(&c->mu);
}

int
aws_config_load(struct aws_config *c, const char *queue_url,
    const char *endpoint_url, char *err, size_t errlen)
{
	struct aws_profile p;
	const char *v;
	int found = 0;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	aws_profile_open(&p);
	if ((v = aws_env("AWS_REGION", "AWS_DEFAULT_REGION")) != NULL)
		c->region = strdup(v);
	else if ((c->region = aws_profile_get(&p, p.name, "region",
	    &found)) == NULL)
		c->region = aws_region_of_url(queue_url);
	if (c->region == NULL) {
		snprintf(err, errlen, "no region: set AWS_REGION");
		goto fail;
	}
	if (endpoint_url == NULL)
		endpoint_url = aws_env("AWS_ENDPOINT_URL_SQS",
		    "AWS_ENDPOINT_URL");
	if (endpoint_url != NULL) {
		if ((c->endpoint = strdup(endpoint_url)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	c->use_fips = aws_setting(&p, "AWS_USE_FIPS_ENDPOINT",
	    "use_fips_endpoint");
	c->use_dualstack = aws_setting(&p, "AWS_USE_DUALSTACK_ENDPOINT",
	    "use_dualstack_endpoint");
	if (c->endpoint == NULL && aws_default_endpoint(&c->endpoint, "sqs",
	    c->region, c->use_fips, c->use_dualstack, err, errlen) < 0)
		goto fail;
	if ((v = aws_env("AWS_CA_BUNDLE", NULL)) != NULL)
		c->ca_bundle = strdup(v);
	else
		c->ca_bundle = aws_profile_get(&p, p.name, "ca_bundle", &found);
	if (resolve_credentials(c, &p, err, errlen) < 0)
		goto fail;
	aws_profile_close(&p);
	return 0;
fail:
	aws_profile_close(&p);
	aws_config_free(c);
	return -1;
}
