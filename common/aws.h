/*
 * aws.h - where and as whom to call an AWS service: endpoint, region and
 * credentials, resolved from the environment as the AWS SDKs do.
 *
 * Ownership: every string in struct aws_config is owned by it; secrets
 * are wiped by aws_config_free().
 */
#ifndef AWS_H
#define AWS_H

#include <stddef.h>

struct aws_config {
	char *endpoint;		/* base URL, e.g. https://sqs.eu-west-1.amazonaws.com/ */
	char *region;
	char *access_key_id;
	char *secret_access_key;
	char *session_token;	/* NULL unless temporary credentials */
};

/*
 * Resolves the configuration for calls about queue_url:
 * - endpoint: endpoint_url if not NULL, else $AWS_ENDPOINT_URL_SQS, else
 *   $AWS_ENDPOINT_URL, else the regional AWS endpoint;
 * - region: $AWS_REGION, else $AWS_DEFAULT_REGION, else the region in an
 *   AWS queue URL (https://sqs.REGION.amazonaws.com/...);
 * - credentials: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and
 *   $AWS_SESSION_TOKEN.
 * Returns 0, or -1 with a message in err (never a secret).
 */
int aws_config_load(struct aws_config *c, const char *queue_url,
    const char *endpoint_url, char *err, size_t errlen);

/* Wipes the secrets and frees every string. */
void aws_config_free(struct aws_config *c);

#endif
