/*
 * test_aws.c - endpoint resolution against the examples of the AWS
 * documentation (SQS endpoints and quotas; dual-stack and FIPS endpoints;
 * the China and GovCloud regions), and queue URLs read back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "check.h"

/* The default endpoint of service in region with the flags is want. */
static int
endpoint_is(const char *service, const char *region, int fips, int dual,
    const char *want)
{
	char err[256], *url;
	int ok;

	if (aws_default_endpoint(&url, service, region, fips, dual, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "%s %s: %s\n", service, region, err);
		return want == NULL;
	}
	ok = want != NULL && strcmp(url, want) == 0;
	if (!ok)
		fprintf(stderr, "got %s, want %s\n", url, want ? want : "error");
	free(url);
	return ok;
}

static int
region_is(const char *url, const char *want)
{
	char *r = aws_region_of_url(url);
	int ok = (r == NULL && want == NULL) ||
	    (r != NULL && want != NULL && strcmp(r, want) == 0);

	free(r);
	return ok;
}

int
main(void)
{
	/* aws */
	CHECK(endpoint_is("sqs", "us-east-1", 0, 0,
	    "https://sqs.us-east-1.amazonaws.com/"));
	CHECK(endpoint_is("sqs", "us-east-1", 1, 0,
	    "https://sqs-fips.us-east-1.amazonaws.com/"));
	CHECK(endpoint_is("sqs", "eu-west-1", 0, 1,
	    "https://sqs.eu-west-1.api.aws/"));
	CHECK(endpoint_is("sqs", "us-east-2", 1, 1,
	    "https://sqs-fips.us-east-2.api.aws/"));
	CHECK(endpoint_is("sts", "eu-central-1", 0, 0,
	    "https://sts.eu-central-1.amazonaws.com/"));
	CHECK(endpoint_is("sts", "us-west-2", 1, 0,
	    "https://sts-fips.us-west-2.amazonaws.com/"));
	/* aws-cn */
	CHECK(endpoint_is("sqs", "cn-north-1", 0, 0,
	    "https://sqs.cn-north-1.amazonaws.com.cn/"));
	CHECK(endpoint_is("sqs", "cn-northwest-1", 0, 1,
	    "https://sqs.cn-northwest-1.api.amazonwebservices.com.cn/"));
	CHECK(endpoint_is("sts", "cn-north-1", 0, 0,
	    "https://sts.cn-north-1.amazonaws.com.cn/"));
	/* aws-us-gov: SQS's FIPS endpoints keep the usual name */
	CHECK(endpoint_is("sqs", "us-gov-west-1", 0, 0,
	    "https://sqs.us-gov-west-1.amazonaws.com/"));
	CHECK(endpoint_is("sqs", "us-gov-west-1", 1, 0,
	    "https://sqs.us-gov-west-1.amazonaws.com/"));
	CHECK(endpoint_is("sts", "us-gov-east-1", 1, 0,
	    "https://sts-fips.us-gov-east-1.amazonaws.com/"));
	CHECK(endpoint_is("sqs", "us-gov-east-1", 0, 1,
	    "https://sqs.us-gov-east-1.api.aws/"));
	/* the isolated partitions have no dual-stack */
	CHECK(endpoint_is("sqs", "us-iso-east-1", 0, 0,
	    "https://sqs.us-iso-east-1.c2s.ic.gov/"));
	CHECK(endpoint_is("sqs", "us-isob-east-1", 0, 0,
	    "https://sqs.us-isob-east-1.sc2s.sgov.gov/"));
	CHECK(endpoint_is("sqs", "us-iso-east-1", 0, 1, NULL));
	/* a region that is not a DNS label reaches no host name */
	CHECK(endpoint_is("sqs", "eu-west-1.evil.example/x", 0, 0, NULL));
	CHECK(endpoint_is("sqs", "", 0, 0, NULL));

	/* the region of a queue URL */
	CHECK(region_is("https://sqs.eu-west-1.amazonaws.com/123456789012/q",
	    "eu-west-1"));
	CHECK(region_is("https://sqs.cn-north-1.amazonaws.com.cn/1/q",
	    "cn-north-1"));
	CHECK(region_is("https://sqs-fips.us-east-1.amazonaws.com/1/q",
	    "us-east-1"));
	CHECK(region_is("https://sqs.us-east-2.api.aws/1/q", "us-east-2"));
	CHECK(region_is("https://sqs.eu-west-1.amazonaws.com.evil.example/1/q",
	    NULL));
	CHECK(region_is("http://localhost:4566/000000000000/q", NULL));
	CHECK(region_is("https://queue.amazonaws.com/1/q", NULL));
	return check_done("test_aws");
}
