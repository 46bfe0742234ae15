/*
 * aws.h - where and as whom to call an AWS service: endpoint, region and
 * credentials, resolved as the AWS SDKs do.
 *
 * Credentials, first found wins:
 *   1. $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN;
 *   2. the profile $AWS_PROFILE (else "default") in the shared credentials
 *      file ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), then
 *      in the config file ($AWS_CONFIG_FILE, else ~/.aws/config);
 *   3. the container credentials endpoint: $AWS_CONTAINER_CREDENTIALS_FULL_URI,
 *      or http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, with
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN (or the contents of
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) as Authorization;
 *   4. EC2 instance metadata with an IMDSv2 session token, at
 *      $AWS_EC2_METADATA_SERVICE_ENDPOINT (else http://169.254.169.254),
 *      unless $AWS_EC2_METADATA_DISABLED is "true".
 * Temporary credentials (3, 4) are fetched again five minutes before they
 * expire: aws_credentials_fresh() does it when needed.
 *
 * Ownership: every string in struct aws_config is owned by it; secrets
 * are wiped by aws_config_free().
 */
#ifndef AWS_H
#define AWS_H

#include <stddef.h>
#include <time.h>

enum aws_source {
	AWS_SOURCE_ENV,
	AWS_SOURCE_PROFILE,
	AWS_SOURCE_CONTAINER,
	AWS_SOURCE_IMDS,
};

struct aws_config {
	char *endpoint;		/* base URL, e.g. https://sqs.eu-west-1.amazonaws.com/ */
	char *region;
	char *access_key_id;
	char *secret_access_key;
	char *session_token;	/* NULL unless temporary credentials */
	enum aws_source source;
	time_t expiration;	/* 0: never */
};

/*
 * Resolves the configuration for calls about queue_url:
 * - endpoint: endpoint_url if not NULL, else $AWS_ENDPOINT_URL_SQS, else
 *   $AWS_ENDPOINT_URL, else the regional AWS endpoint;
 * - region: $AWS_REGION, else $AWS_DEFAULT_REGION, else the profile's
 *   region in the config file, else the region in an AWS queue URL
 *   (https://sqs.REGION.amazonaws.com/...);
 * - credentials: as above.
 * Returns 0, or -1 with a message in err (never a secret).
 */
int aws_config_load(struct aws_config *c, const char *queue_url,
    const char *endpoint_url, char *err, size_t errlen);

/* Fetches temporary credentials again if they expire within five
 * minutes.  Returns 0, or -1 with a message in err. */
int aws_credentials_fresh(struct aws_config *c, char *err, size_t errlen);

/* Wipes the secrets and frees every string. */
void aws_config_free(struct aws_config *c);

#endif
