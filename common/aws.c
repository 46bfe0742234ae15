/*
 * aws.c - endpoint, region and credentials, as the AWS SDKs resolve them.
 * See aws.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "aws.h"
#include "obuf.h"

#define REFRESH_MARGIN 300	/* seconds before expiry to fetch again */
#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"

/* The first of the named variables that is set and not empty. */
static const char *
env_first(const char *a, const char *b)
{
	const char *v;

	if ((v = getenv(a)) != NULL && *v != '\0')
		return v;
	if (b != NULL && (v = getenv(b)) != NULL && *v != '\0')
		return v;
	return NULL;
}

/* The REGION of https://sqs.REGION.amazonaws.com/..., or NULL. */
static char *
region_of_url(const char *url)
{
	const char *host, *dot;

	if ((host = strstr(url, "://")) == NULL)
		return NULL;
	host += 3;
	if (strncmp(host, "sqs.", 4) != 0)
		return NULL;
	host += 4;
	if ((dot = strchr(host, '.')) == NULL || dot == host ||
	    strncmp(dot, ".amazonaws.com", 14) != 0)
		return NULL;
	return strndup(host, (size_t)(dot - host));
}

static void
wipe_free(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static void
drop_credentials(struct aws_config *c)
{
	free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	c->access_key_id = c->secret_access_key = c->session_token = NULL;
	c->expiration = 0;
}

void
aws_config_free(struct aws_config *c)
{
	drop_credentials(c);
	free(c->endpoint);
	free(c->region);
	memset(c, 0, sizeof(*c));
}

/* Strips blanks at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]) != NULL)
		*--e = '\0';
	return s;
}

/*
 * The value of key in [section] of an AWS shared config file (the INI
 * dialect the SDKs read: "key = value", # and ; comments), or NULL.
 * *found is set when the section exists.
 */
static char *
ini_get(const char *path, const char *section, const char *key, int *found)
{
	char *line = NULL, *value = NULL;
	size_t cap = 0;
	int in = 0;
	FILE *f;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return NULL;
	while (value == NULL && getline(&line, &cap, f) > 0) {
		char *s = trim(line), *eq;

		if (*s == '#' || *s == ';' || *s == '\0')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (end != NULL)
				*end = '\0';
			in = strcmp(trim(s + 1), section) == 0;
			*found |= in;
			continue;
		}
		if (!in || (eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(trim(s), key) == 0)
			value = strdup(trim(eq + 1));
	}
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	fclose(f);
	return value;
}

/* The shared credentials and config files, and the profile's sections. */
struct profile {
	const char *name;
	char *cred_file, *config_file, *config_section;
	int named;		/* $AWS_PROFILE chose it */
};

static void
profile_open(struct profile *p)
{
	const char *home = getenv("HOME"), *v;

	memset(p, 0, sizeof(*p));
	p->named = (p->name = env_first("AWS_PROFILE", NULL)) != NULL;
	if (!p->named)
		p->name = "default";
	if ((v = env_first("AWS_SHARED_CREDENTIALS_FILE", NULL)) != NULL)
		p->cred_file = strdup(v);
	else if (home != NULL &&
	    asprintf(&p->cred_file, "%s/.aws/credentials", home) < 0)
		p->cred_file = NULL;
	if ((v = env_first("AWS_CONFIG_FILE", NULL)) != NULL)
		p->config_file = strdup(v);
	else if (home != NULL &&
	    asprintf(&p->config_file, "%s/.aws/config", home) < 0)
		p->config_file = NULL;
	if (strcmp(p->name, "default") == 0)
		p->config_section = strdup("default");
	else if (asprintf(&p->config_section, "profile %s", p->name) < 0)
		p->config_section = NULL;
}

static void
profile_close(struct profile *p)
{
	free(p->cred_file);
	free(p->config_file);
	free(p->config_section);
}

/* A key of the profile: the credentials file first, then the config. */
static char *
profile_get(const struct profile *p, const char *key, int *found)
{
	char *v = ini_get(p->cred_file, p->name, key, found);

	if (v == NULL && p->config_section != NULL)
		v = ini_get(p->config_file, p->config_section, key, found);
	return v;
}

/* ---- temporary credentials over HTTP --------------------------------- */

static size_t
collect(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct obuf *b = ctx;

	if (b->len + size * nmemb > 65536)
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
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
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

static time_t
parse_time(const char *iso)
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
	if (a != NULL && s != NULL) {
		drop_credentials(c);
		c->access_key_id = strdup(a->u.string);
		c->secret_access_key = strdup(s->u.string);
		c->session_token = t ? strdup(t->u.string) : NULL;
		c->expiration = e ? parse_time(e->u.string) : 0;
		ok = c->access_key_id && c->secret_access_key &&
		    (t == NULL || c->session_token);
	}
	yajl_tree_free(tree);
	return ok ? 0 : -1;
}

/* The container credentials endpoint, if this is a container. */
static int
from_container(struct aws_config *c, char *err, size_t errlen, int *tried)
{
	const char *full = env_first("AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL);
	const char *rel = env_first("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	    NULL);
	const char *tok = env_first("AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL);
	const char *tokfile = env_first("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    NULL);
	char *url = NULL, *header = NULL, *filetok = NULL;
	struct obuf body = { .len = 0 };
	long status;
	int r = -1;

	if (full == NULL && rel == NULL)
		return -1;
	*tried = 1;
	if (full != NULL)
		url = strdup(full);
	else if (asprintf(&url, "%s%s", CONTAINER_HOST, rel) < 0)
		url = NULL;
	if (tok == NULL && tokfile != NULL) {
		FILE *f = fopen(tokfile, "r");
		size_t cap = 0;

		if (f != NULL && getline(&filetok, &cap, f) > 0)
			tok = trim(filetok);
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
	wipe_free(header);
	wipe_free(filetok);
	if (body.p != NULL)
		OPENSSL_cleanse(body.p, body.cap);
	obuf_free(&body);
	return r;
}

/* EC2 instance metadata, IMDSv2: a session token, the role, its keys. */
static int
from_imds(struct aws_config *c, char *err, size_t errlen, int *tried)
{
	const char *base = env_first("AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL);
	const char *off = env_first("AWS_EC2_METADATA_DISABLED", NULL);
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
	    trim(body.p));
	snprintf(url, sizeof(url),
	    "%.*s/latest/meta-data/iam/security-credentials/", (int)n, base);
	if (fetch("GET", url, header, &body) != 200 || body.len < 2) {
		snprintf(err, errlen, "instance metadata: no IAM role");
		goto out;
	}
	snprintf(role, sizeof(role), "%s", trim(body.p));
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

/* Resolves credentials down the chain.  Returns 0, or -1 with err. */
static int
resolve_credentials(struct aws_config *c, const struct profile *p, char *err,
    size_t errlen)
{
	const char *v;
	int found = 0, tried = 0;

	drop_credentials(c);
	if ((v = env_first("AWS_ACCESS_KEY_ID", NULL)) != NULL &&
	    env_first("AWS_SECRET_ACCESS_KEY", NULL) != NULL) {
		c->access_key_id = strdup(v);
		c->secret_access_key = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
		if ((v = env_first("AWS_SESSION_TOKEN", NULL)) != NULL)
			c->session_token = strdup(v);
		c->source = AWS_SOURCE_ENV;
		return c->access_key_id && c->secret_access_key ? 0 : -1;
	}
	c->access_key_id = profile_get(p, "aws_access_key_id", &found);
	c->secret_access_key = profile_get(p, "aws_secret_access_key", &found);
	if (c->access_key_id != NULL && c->secret_access_key != NULL) {
		c->session_token = profile_get(p, "aws_session_token", &found);
		c->source = AWS_SOURCE_PROFILE;
		return 0;
	}
	drop_credentials(c);
	if (p->named) {
		snprintf(err, errlen, "profile %s: %s", p->name, found ?
		    "no aws_access_key_id and aws_secret_access_key" :
		    "not found in the credentials or config file");
		return -1;
	}
	if (from_container(c, err, errlen, &tried) == 0 ||
	    from_imds(c, err, errlen, &tried) == 0)
		return 0;
	if (!tried)
		snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID "
		    "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE");
	return -1;
}

int
aws_credentials_fresh(struct aws_config *c, char *err, size_t errlen)
{
	int tried = 0;

	if (c->expiration == 0 || time(NULL) < c->expiration - REFRESH_MARGIN)
		return 0;
	if (c->source == AWS_SOURCE_CONTAINER)
		return from_container(c, err, errlen, &tried);
	if (c->source == AWS_SOURCE_IMDS)
		return from_imds(c, err, errlen, &tried);
	return 0;
}

int
aws_config_load(struct aws_config *c, const char *queue_url,
    const char *endpoint_url, char *err, size_t errlen)
{
	struct profile p;
	const char *v;
	int found = 0;

	memset(c, 0, sizeof(*c));
	profile_open(&p);
	if ((v = env_first("AWS_REGION", "AWS_DEFAULT_REGION")) != NULL)
		c->region = strdup(v);
	else if (p.config_section == NULL || (c->region = ini_get(p.config_file,
	    p.config_section, "region", &found)) == NULL)
		c->region = region_of_url(queue_url);
	if (c->region == NULL) {
		snprintf(err, errlen, "no region: set AWS_REGION");
		goto fail;
	}
	if (endpoint_url == NULL)
		endpoint_url = env_first("AWS_ENDPOINT_URL_SQS",
		    "AWS_ENDPOINT_URL");
	if (endpoint_url != NULL)
		c->endpoint = strdup(endpoint_url);
	else if (asprintf(&c->endpoint, "https://sqs.%s.amazonaws.com/",
	    c->region) < 0)
		c->endpoint = NULL;
	if (c->endpoint == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (resolve_credentials(c, &p, err, errlen) < 0)
		goto fail;
	profile_close(&p);
	return 0;
fail:
	profile_close(&p);
	aws_config_free(c);
	return -1;
}
