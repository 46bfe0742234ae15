/*
 * awsprofile.c - the shared credentials and config files, as the AWS SDKs
 * read them, and the credentials a profile gives: keys, a
 * credential_process, or a role taken on through STS (source_profile,
 * credential_source, web_identity_token_file), profiles leading to
 * profiles with a loop check.  See aws_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "aws_int.h"

/* The first of the named variables that is set and not empty. */
const char *
aws_env(const char *a, const char *b)
{
	const char *v;

	if ((v = getenv(a)) != NULL && *v != '\0')
		return v;
	if (b != NULL && (v = getenv(b)) != NULL && *v != '\0')
		return v;
	return NULL;
}

/* Strips blanks at both ends, in place. */
char *
aws_trim(char *s)
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
		char *s = aws_trim(line), *eq;

		if (*s == '#' || *s == ';' || *s == '\0')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (end != NULL)
				*end = '\0';
			in = strcmp(aws_trim(s + 1), section) == 0;
			*found |= in;
			continue;
		}
		if (!in || (eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(aws_trim(s), key) == 0)
			value = strdup(aws_trim(eq + 1));
	}
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	fclose(f);
	return value;
}

void
aws_profile_open(struct aws_profile *p)
{
	const char *home = getenv("HOME"), *v;

	memset(p, 0, sizeof(*p));
	p->named = (p->name = aws_env("AWS_PROFILE", NULL)) != NULL;
	if (!p->named)
		p->name = "default";
	if ((v = aws_env("AWS_SHARED_CREDENTIALS_FILE", NULL)) != NULL)
		p->cred_file = strdup(v);
	else if (home != NULL &&
	    asprintf(&p->cred_file, "%s/.aws/credentials", home) < 0)
		p->cred_file = NULL;
	if ((v = aws_env("AWS_CONFIG_FILE", NULL)) != NULL)
		p->config_file = strdup(v);
	else if (home != NULL &&
	    asprintf(&p->config_file, "%s/.aws/config", home) < 0)
		p->config_file = NULL;
}

void
aws_profile_close(struct aws_profile *p)
{
	free(p->cred_file);
	free(p->config_file);
}

char *
aws_profile_get(const struct aws_profile *p, const char *name,
    const char *key, int *found)
{
	char *v = ini_get(p->cred_file, name, key, found), *section;

	if (v != NULL)
		return v;
	if (strcmp(name, "default") == 0)
		section = strdup("default");
	else if (asprintf(&section, "profile %s", name) < 0)
		section = NULL;
	if (section != NULL)
		v = ini_get(p->config_file, section, key, found);
	free(section);
	return v;
}

int
aws_setting(const struct aws_profile *p, const char *var, const char *key)
{
	const char *v = aws_env(var, NULL);
	char *pv = NULL;
	int found = 0, on;

	if (v == NULL)
		v = pv = aws_profile_get(p, p->name, key, &found);
	on = v != NULL && strcasecmp(v, "true") == 0;
	free(pv);
	return on;
}

/* The credentials of a role's source: credential_source names one of the
 * chain's own (Environment, Ec2InstanceMetadata, EcsContainer). */
static int
credential_source(struct aws_config *src, const char *name, const char *kind,
    char *err, size_t errlen)
{
	int tried = 0;

	if (strcmp(kind, "Environment") == 0) {
		int r = aws_from_env(src);

		if (r == 0)
			snprintf(err, errlen, "profile %s: credential_source "
			    "Environment: AWS_ACCESS_KEY_ID and "
			    "AWS_SECRET_ACCESS_KEY are not set", name);
		else if (r < 0)
			snprintf(err, errlen, "out of memory");
		return r == 1 ? 0 : -1;
	}
	if (strcmp(kind, "Ec2InstanceMetadata") == 0) {
		if (aws_from_imds(src, err, errlen, &tried) == 0)
			return 0;
		if (!tried)
			snprintf(err, errlen, "instance metadata: not found");
		return -1;
	}
	if (strcmp(kind, "EcsContainer") == 0) {
		if (aws_from_container(src, err, errlen, &tried) == 0)
			return 0;
		if (!tried)
			snprintf(err, errlen, "container credentials endpoint: "
			    "not configured");
		return -1;
	}
	snprintf(err, errlen, "profile %s: credential_source must be "
	    "Environment, Ec2InstanceMetadata or EcsContainer", name);
	return -1;
}

/* The keys of a profile, if it has them: 1, or 0. */
static int
profile_keys(struct aws_config *c, const struct aws_profile *p,
    const char *name, int *found)
{
	c->access_key_id = aws_profile_get(p, name, "aws_access_key_id", found);
	c->secret_access_key = aws_profile_get(p, name,
	    "aws_secret_access_key", found);
	if (c->access_key_id == NULL || c->secret_access_key == NULL) {
		aws_drop_credentials(c);
		return 0;
	}
	c->session_token = aws_profile_get(p, name, "aws_session_token", found);
	return 1;
}

/* A profile's credentials; seen[0..depth) are the profiles that led
 * here. */
static int
profile_chain(struct aws_config *c, const struct aws_profile *p,
    const char *name, const char **seen, int depth, int *found, char *err,
    size_t errlen)
{
	char *role = aws_profile_get(p, name, "role_arn", found), *process,
	    *src = NULL, *kind = NULL, *session = NULL, *external = NULL,
	    *duration = NULL, *token_file = NULL;
	struct aws_config source;
	int r = -1;

	for (int i = 0; i < depth; i++)
		if (strcmp(seen[i], name) == 0) {
			snprintf(err, errlen, "profile %s: source_profile leads "
			    "back to it (a loop)", name);
			free(role);
			return -1;
		}
	if (depth == AWS_MAX_CHAIN) {
		snprintf(err, errlen, "profile %s: more than %d profiles in a "
		    "chain of roles", name, AWS_MAX_CHAIN);
		free(role);
		return -1;
	}
	seen[depth] = name;
	if (role == NULL) {
		if ((process = aws_profile_get(p, name, "credential_process",
		    found)) != NULL) {
			r = aws_process_credentials(c, process, err, errlen);
			c->source = AWS_SOURCE_PROCESS;
			free(process);
			return r < 0 ? -1 : 1;
		}
		if (profile_keys(c, p, name, found)) {
			c->source = AWS_SOURCE_PROFILE;
			return 1;
		}
		return 0;
	}
	memset(&source, 0, sizeof(source));
	session = aws_profile_get(p, name, "role_session_name", found);
	external = aws_profile_get(p, name, "external_id", found);
	duration = aws_profile_get(p, name, "duration_seconds", found);
	token_file = aws_profile_get(p, name, "web_identity_token_file", found);
	src = aws_profile_get(p, name, "source_profile", found);
	kind = aws_profile_get(p, name, "credential_source", found);
	struct aws_role ar = { role, session, external,
	    duration != NULL ? atol(duration) : 0, token_file };

	if (token_file != NULL) {
		r = aws_sts_assume(c, &ar, NULL, err, errlen);
		c->source = AWS_SOURCE_WEB_IDENTITY;
		goto out;
	}
	if (src != NULL && kind != NULL) {
		snprintf(err, errlen, "profile %s: source_profile and "
		    "credential_source are exclusive", name);
		goto out;
	}
	if (src != NULL && strcmp(src, name) == 0)
		/* a profile may be its own source: its keys */
		r = profile_keys(&source, p, name, found) ? 0 : -1;
	else if (src != NULL)
		r = profile_chain(&source, p, src, seen, depth + 1, found, err,
		    errlen) == 1 ? 0 : -1;
	else if (kind != NULL)
		r = credential_source(&source, name, kind, err, errlen);
	else
		snprintf(err, errlen, "profile %s: role_arn needs "
		    "source_profile, credential_source or "
		    "web_identity_token_file", name);
	if (r == 0 && source.access_key_id == NULL) {
		r = -1;
		snprintf(err, errlen, "profile %s: source_profile %s has no "
		    "credentials", name, src);
	}
	if (r == 0) {
		source.region = c->region;	/* borrowed */
		r = aws_sts_assume(c, &ar, &source, err, errlen);
		c->source = AWS_SOURCE_ASSUME_ROLE;
	}
out:
	aws_drop_credentials(&source);
	free(role);
	free(session);
	free(external);
	free(duration);
	aws_wipe_free(token_file);
	free(src);
	free(kind);
	return r < 0 ? -1 : 1;
}

int
aws_profile_credentials(struct aws_config *c, const struct aws_profile *p,
    const char *name, int *found, char *err, size_t errlen)
{
	const char *seen[AWS_MAX_CHAIN];

	return profile_chain(c, p, name, seen, 0, found, err, errlen);
}
