/*
 * aws.c - endpoint, region and credentials from the environment.
 * See aws.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aws.h"

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

void
aws_config_free(struct aws_config *c)
{
	free(c->endpoint);
	free(c->region);
	free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int
aws_config_load(struct aws_config *c, const char *queue_url,
    const char *endpoint_url, char *err, size_t errlen)
{
	const char *v;

	memset(c, 0, sizeof(*c));
	if ((v = env_first("AWS_REGION", "AWS_DEFAULT_REGION")) != NULL)
		c->region = strdup(v);
	else if ((c->region = region_of_url(queue_url)) == NULL) {
		snprintf(err, errlen, "no region: set AWS_REGION");
		return -1;
	}
	if (endpoint_url == NULL)
		endpoint_url = env_first("AWS_ENDPOINT_URL_SQS",
		    "AWS_ENDPOINT_URL");
	if (endpoint_url != NULL)
		c->endpoint = strdup(endpoint_url);
	else if (c->region != NULL &&
	    asprintf(&c->endpoint, "https://sqs.%s.amazonaws.com/",
	    c->region) < 0)
		c->endpoint = NULL;
	if ((v = env_first("AWS_ACCESS_KEY_ID", NULL)) != NULL)
		c->access_key_id = strdup(v);
	if ((v = env_first("AWS_SECRET_ACCESS_KEY", NULL)) != NULL)
		c->secret_access_key = strdup(v);
	if ((v = env_first("AWS_SESSION_TOKEN", NULL)) != NULL)
		c->session_token = strdup(v);
	if (c->access_key_id == NULL || c->secret_access_key == NULL) {
		snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID "
		    "and AWS_SECRET_ACCESS_KEY");
		aws_config_free(c);
		return -1;
	}
	if (c->region == NULL || c->endpoint == NULL ||
	    (v != NULL && c->session_token == NULL)) {
		snprintf(err, errlen, "out of memory");
		aws_config_free(c);
		return -1;
	}
	return 0;
}
