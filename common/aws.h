/*
 * aws.h - where and as whom to call an AWS service: endpoint, region and
 * credentials, resolved as the AWS SDKs do.
 *
 * Credentials, first found wins (aws_int.h has the pieces):
 *   1. $AWS_PROFILE, when set: that profile (4) first;
 *   2. $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN;
 *   3. web identity: $AWS_WEB_IDENTITY_TOKEN_FILE and $AWS_ROLE_ARN
 *      ($AWS_ROLE_SESSION_NAME), STS AssumeRoleWithWebIdentity;
 *   4. the profile $AWS_PROFILE (else "default") in the shared credentials
 *      file ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), then
 *      in the config file ($AWS_CONFIG_FILE, else ~/.aws/config): a
 *      role_arn (with web_identity_token_file, source_profile or
 *      credential_source), else credential_process, else keys;
 *   5. the container credentials endpoint: $AWS_CONTAINER_CREDENTIALS_FULL_URI
 *      (https, or http to loopback or the ECS/EKS agents), or
 *      http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, with
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN (or the contents of
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) as Authorization;
 *   6. EC2 instance metadata with an IMDSv2 session token, at
 *      $AWS_EC2_METADATA_SERVICE_ENDPOINT (else http://169.254.169.254),
 *      unless $AWS_EC2_METADATA_DISABLED is "true".
 * Temporary credentials are fetched again five minutes before they
 * expire: aws_credentials_fresh() does it when needed (a role or a
 * process by walking the chain again).
 *
 * Ownership: every string in struct aws_config is owned by it; secrets
 * are wiped by aws_config_free().
 */
#ifndef AWS_H
#define AWS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

enum aws_source {
	AWS_SOURCE_ENV,
	AWS_SOURCE_WEB_IDENTITY,
	AWS_SOURCE_PROFILE,
	AWS_SOURCE_ASSUME_ROLE,
	AWS_SOURCE_PROCESS,
	AWS_SOURCE_CONTAINER,
	AWS_SOURCE_IMDS,
};

struct aws_config {
	char *endpoint;		/* base URL, e.g. https://sqs.eu-west-1.amazonaws.com/ */
	char *region;
	char *ca_bundle;	/* $AWS_CA_BUNDLE, else the profile's ca_bundle;
				 * NULL: the system's */
	int use_fips, use_dualstack;	/* for the default endpoints */
	char *access_key_id;
	char *secret_access_key;
	char *session_token;	/* NULL unless temporary credentials */
	enum aws_source source;
	time_t expiration;	/* 0: never */
	/* Temporary credentials are renewed by a thread of their own, which
	 * swaps the new ones in under mu. */
	pthread_mutex_t mu;
	pthread_t refresher;
	int refreshing;			/* refresher started, not joined */
	atomic_int refresh_done;	/* ... and finished */
};

/*
 * Resolves the configuration for calls about queue_url:
 * - endpoint: endpoint_url if not NULL, else $AWS_ENDPOINT_URL_SQS, else
 *   $AWS_ENDPOINT_URL, else the region's endpoint in its partition
 *   (aws_default_endpoint()), FIPS when $AWS_USE_FIPS_ENDPOINT (else the
 *   profile's use_fips_endpoint) is "true", dual-stack likewise with
 *   $AWS_USE_DUALSTACK_ENDPOINT (use_dualstack_endpoint);
 * - region: $AWS_REGION, else $AWS_DEFAULT_REGION, else the profile's
 *   region in the config file, else the region in an AWS queue URL
 *   (aws_region_of_url());
 * - credentials: as above.
 * Returns 0, or -1 with a message in err (never a secret).
 */
int aws_config_load(struct aws_config *c, const char *queue_url,
    const char *endpoint_url, char *err, size_t errlen);

/* The default endpoint of service in region, as the SDKs build it:
 * https://SERVICE[-fips].REGION.SUFFIX/, SUFFIX the partition's DNS
 * suffix or, for dual-stack, its dual-stack suffix (amazonaws.com and
 * api.aws; amazonaws.com.cn and api.amazonwebservices.com.cn).  Returns
 * 0 and a string to free in *url, or -1 with a message in err (a region
 * that is not a DNS label, a partition without dual-stack). */
int aws_default_endpoint(char **url, const char *service, const char *region,
    int fips, int dualstack, char *err, size_t errlen);

/* The REGION of an AWS queue URL, https://sqs[-fips].REGION.SUFFIX/...
 * with SUFFIX a partition's; NULL for any other URL.  To free. */
char *aws_region_of_url(const char *url);

/* Keeps temporary credentials fresh; call it before each request.
 * Within five minutes of their expiry they are renewed by a thread of its
 * own while requests go on with the current ones; within one minute,
 * this waits for the renewal (or fetches itself).  Returns 0, or -1 with
 * a message in err.  Read the credentials between aws_credentials_lock()
 * and aws_credentials_unlock(): the renewal swaps them. */
int aws_credentials_fresh(struct aws_config *c, char *err, size_t errlen);
void aws_credentials_lock(struct aws_config *c);
void aws_credentials_unlock(struct aws_config *c);

/* Wipes the secrets and frees every string. */
void aws_config_free(struct aws_config *c);

#endif
