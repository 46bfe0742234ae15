/*
 * curl-floor.c - the CPU that libcurl alone spends on SQS requests, for
 * bench/sqs.sh: N POSTs of a ReceiveMessage-sized body over one kept
 * connection, signed with CURLOPT_AWS_SIGV4 as sqs.c signs them, answers
 * discarded.  Prints the process's CPU seconds.  Whatever sqs-recv and
 * sqs-ack do beyond this is ours to make cheaper; this much is not.
 *
 *   curl-floor URL N
 */
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

static size_t
discard(char *data, size_t size, size_t nmemb, void *ctx)
{
	(void)data, (void)ctx;
	return size * nmemb;
}

int
main(int argc, char *argv[])
{
	static const char body[] = "{\"QueueUrl\":\"http://127.0.0.1/1/q\","
	    "\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":0}";
	struct curl_slist *h = NULL;
	struct rusage ru;
	CURL *c;
	long n;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fputs("usage: curl-floor URL N\n", stderr);
		return 2;
	}
	if ((c = curl_easy_init()) == NULL ||
	    (h = curl_slist_append(h, "Content-Type: "
	    "application/x-amz-json-1.0")) == NULL ||
	    (h = curl_slist_append(h, "X-Amz-Target: "
	    "AmazonSQS.ReceiveMessage")) == NULL)
		return 1;
	curl_easy_setopt(c, CURLOPT_URL, argv[1]);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:sqs");
	curl_easy_setopt(c, CURLOPT_USERNAME, "AKIDEXAMPLE");
	curl_easy_setopt(c, CURLOPT_PASSWORD, "secret");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	for (long i = 0; i < n; i++)
		if (curl_easy_perform(c) != CURLE_OK)
			return 1;
	getrusage(RUSAGE_SELF, &ru);
	printf("%.3f\n", ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return 0;
}
