/*
 * awsendpoint.c - the default endpoint of a service in a region, as the
 * AWS SDKs build it from the partitions file.  See aws.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

/* The partitions, by region prefix (the first that matches): their DNS
 * suffix, and the dual-stack one. */
static const struct partition {
	const char *prefix, *name, *dns, *dualstack;
} partitions[] = {
	{ "cn-", "aws-cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn" },
	{ "us-gov-", "aws-us-gov", "amazonaws.com", "api.aws" },
	{ "us-isob-", "aws-iso-b", "sc2s.sgov.gov", NULL },
	{ "us-iso-", "aws-iso", "c2s.ic.gov", NULL },
	{ "eu-isoe-", "aws-iso-e", "cloud.adc-e.uk", NULL },
	{ "us-isof-", "aws-iso-f", "csp.hci.ic.gov", NULL },
	{ "", "aws", "amazonaws.com", "api.aws" },
};

static const struct partition *
partition_of(const char *region)
{
	size_t i = 0;

	while (strncmp(region, partitions[i].prefix,
	    strlen(partitions[i].prefix)) != 0)
		i++;
	return &partitions[i];
}

int
aws_default_endpoint(char **url, const char *service, const char *region,
    int fips, int dualstack, char *err, size_t errlen)
{
	const struct partition *p = partition_of(region);

	*url = NULL;
	/* A region is a DNS label: nothing else may reach the host name. */
	if (*region == '\0' || strspn(region, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != strlen(region)) {
		snprintf(err, errlen, "region \"%.64s\" is not a region name",
		    region);
		return -1;
	}
	if (dualstack && p->dualstack == NULL) {
		snprintf(err, errlen, "partition %s has no dual-stack "
		    "endpoints", p->name);
		return -1;
	}
	/* GovCloud's SQS endpoints are FIPS endpoints under the usual name
	 * (the SDKs' endpoint data). */
	if (fips && strcmp(p->name, "aws-us-gov") == 0 &&
	    strcmp(service, "sqs") == 0)
		fips = 0;
	if (asprintf(url, "https://%s%s.%s.%s/", service, fips ? "-fips" : "",
	    region, dualstack ? p->dualstack : p->dns) < 0) {
		*url = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

char *
aws_region_of_url(const char *url)
{
	const char *host, *dot, *end;
	size_t n;

	if ((host = strstr(url, "://")) == NULL)
		return NULL;
	host += 3;
	end = host + strcspn(host, "/:");
	/* sqs.REGION.SUFFIX or sqs-fips.REGION.SUFFIX, SUFFIX a partition's */
	if (strncmp(host, "sqs.", 4) == 0)
		host += 4;
	else if (strncmp(host, "sqs-fips.", 9) == 0)
		host += 9;
	else
		return NULL;
	if ((dot = memchr(host, '.', (size_t)(end - host))) == NULL ||
	    dot == host)
		return NULL;
	n = (size_t)(end - dot - 1);
	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if ((strlen(partitions[i].dns) == n &&
		    strncmp(dot + 1, partitions[i].dns, n) == 0) ||
		    (partitions[i].dualstack != NULL &&
		    strlen(partitions[i].dualstack) == n &&
		    strncmp(dot + 1, partitions[i].dualstack, n) == 0))
			return strndup(host, (size_t)(dot - host));
	return NULL;
}
