/*
 * aws_int.h - what the files of the AWS configuration share, and nothing
 * else includes: aws.c (the chain, endpoints of credentials on the local
 * network), awsprofile.c (the shared files and what a profile says),
 * awssts.c (STS), awsprocess.c (credential_process).
 */
#ifndef AWS_INT_H
#define AWS_INT_H

#include <stddef.h>
#include <time.h>

#include "aws.h"

#define AWS_PROCESS_TIMEOUT_MS 60000	/* a credential_process's answer */
#define AWS_MAX_CHAIN 8			/* profiles a role may lead through */

/* The shared credentials and config files, and the chosen profile. */
struct aws_profile {
	const char *name;	/* $AWS_PROFILE, else "default" */
	char *cred_file, *config_file;
	int named;		/* $AWS_PROFILE chose it */
};

/* A role to take on through STS. */
struct aws_role {
	const char *role_arn;
	const char *session_name;	/* NULL: fetch-awards-PID */
	const char *external_id;	/* NULL: none */
	long duration_seconds;		/* 0: STS's default */
	const char *token_file;		/* web identity: read at each call */
};

/* The first of the variables a, b (b may be NULL) that is set and not
 * empty, or NULL. */
const char *aws_env(const char *a, const char *b);

/* Strips blanks at both ends, in place. */
char *aws_trim(char *s);

void aws_profile_open(struct aws_profile *p);
void aws_profile_close(struct aws_profile *p);

/* The value of key in profile name: the credentials file's [name], then
 * the config file's [profile name] ([default]).  *found is set when
 * either section exists.  To free. */
char *aws_profile_get(const struct aws_profile *p, const char *name,
    const char *key, int *found);

/* A boolean setting: the variable, else the chosen profile's key. */
int aws_setting(const struct aws_profile *p, const char *var, const char *key);

/* The credentials profile name gives: a role (with source_profile,
 * credential_source or web_identity_token_file), credential_process, or
 * keys.  Returns 1 with them in c, 0 when the profile has none of these
 * (*found tells whether it exists), or -1 with a message in err. */
int aws_profile_credentials(struct aws_config *c, const struct aws_profile *p,
    const char *name, int *found, char *err, size_t errlen);

/* STS AssumeRole signed with source's credentials, or (source NULL)
 * AssumeRoleWithWebIdentity with the token in r->token_file; the
 * credentials go into c, whose region and CA bundle are used.  Returns 0,
 * or -1 with a message in err (never a secret). */
int aws_sts_assume(struct aws_config *c, const struct aws_role *r,
    const struct aws_config *source, char *err, size_t errlen);

/* Runs a credential_process command.  Returns 0, or -1 with err. */
int aws_process_credentials(struct aws_config *c, const char *command,
    char *err, size_t errlen);

/* The container endpoint and instance metadata (aws.c): 0, or -1 with
 * err; *tried is set when the source is configured or present. */
int aws_from_container(struct aws_config *c, char *err, size_t errlen,
    int *tried);
int aws_from_imds(struct aws_config *c, char *err, size_t errlen, int *tried);

/* Replaces c's credentials with copies of these (token NULL: none;
 * expiration NULL: never, else an ISO 8601 time).  Returns 0, or -1 when
 * memory is short (c then has none). */
int aws_set_credentials(struct aws_config *c, const char *key,
    const char *secret, const char *token, const char *expiration);

/* The keys of the environment, $AWS_ACCESS_KEY_ID and
 * $AWS_SECRET_ACCESS_KEY (and $AWS_SESSION_TOKEN): 1 with them in c, 0
 * when they are not set, -1 when memory is short. */
int aws_from_env(struct aws_config *c);

/* A libcurl write callback that appends to the struct obuf ctx, up to
 * AWS_MAX_ANSWER bytes (beyond, the transfer fails). */
#define AWS_MAX_ANSWER 65536
size_t aws_collect(char *data, size_t size, size_t nmemb, void *ctx);

void aws_drop_credentials(struct aws_config *c);
void aws_wipe_free(char *s);
time_t aws_parse_time(const char *iso8601);

#endif
