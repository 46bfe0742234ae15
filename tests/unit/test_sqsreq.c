/*
 * test_sqsreq.c - the SQS request bodies, byte for byte, in both
 * protocols, as the SQS API reference gives them.
 */
#include <string.h>

#include "check.h"
#include "sqsreq.h"

#define Q "https://sqs.eu-west-1.amazonaws.com/123456789012/logins"
#define QF "https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F123456789012%2Flogins"

static int
body_is(const struct obuf *b, const char *want)
{
	if (b->len == strlen(want) && memcmp(b->p, want, b->len) == 0)
		return 1;
	fprintf(stderr, "got:  %.*s\nwant: %s\n", (int)b->len, b->p, want);
	return 0;
}

int
main(void)
{
	struct obuf b = { .len = 0 };
	struct sqs_delete e[3] = {
		{ .receipt_handle = "AQEB+/a=b&c" },
		{ .receipt_handle = "done" },
		{ .receipt_handle = "h\"2\\" },
	};
	unsigned char pending[3] = { 1, 0, 1 };

	sqsreq_receive(&b, SQS_JSON, Q, 10, 20, -1);
	CHECK(body_is(&b, "{\"QueueUrl\":\"" Q "\",\"MaxNumberOfMessages\":10,"
	    "\"WaitTimeSeconds\":20,\"AttributeNames\":[\"SentTimestamp\","
	    "\"ApproximateReceiveCount\"],\"MessageSystemAttributeNames\":"
	    "[\"SentTimestamp\",\"ApproximateReceiveCount\"]}"));
	sqsreq_receive(&b, SQS_JSON, Q, 1, 0, 45);
	CHECK(body_is(&b, "{\"QueueUrl\":\"" Q "\",\"MaxNumberOfMessages\":1,"
	    "\"WaitTimeSeconds\":0,\"VisibilityTimeout\":45,\"AttributeNames\":"
	    "[\"SentTimestamp\",\"ApproximateReceiveCount\"],"
	    "\"MessageSystemAttributeNames\":[\"SentTimestamp\","
	    "\"ApproximateReceiveCount\"]}"));
	sqsreq_receive(&b, SQS_QUERY, Q, 10, 20, 45);
	CHECK(body_is(&b, "Action=ReceiveMessage&Version=2012-11-05&QueueUrl=" QF
	    "&MaxNumberOfMessages=10&WaitTimeSeconds=20&VisibilityTimeout=45"
	    "&AttributeName.1=SentTimestamp"
	    "&AttributeName.2=ApproximateReceiveCount"));

	/* Only pending entries; Ids are positions; values escaped. */
	sqsreq_delete(&b, SQS_JSON, Q, e, pending, 3);
	CHECK(body_is(&b, "{\"QueueUrl\":\"" Q "\",\"Entries\":["
	    "{\"Id\":\"0\",\"ReceiptHandle\":\"AQEB+/a=b&c\"},"
	    "{\"Id\":\"2\",\"ReceiptHandle\":\"h\\\"2\\\\\"}]}"));
	sqsreq_delete(&b, SQS_QUERY, Q, e, pending, 3);
	CHECK(body_is(&b, "Action=DeleteMessageBatch&Version=2012-11-05"
	    "&QueueUrl=" QF
	    "&DeleteMessageBatchRequestEntry.1.Id=0"
	    "&DeleteMessageBatchRequestEntry.1.ReceiptHandle=AQEB%2B%2Fa%3Db%26c"
	    "&DeleteMessageBatchRequestEntry.2.Id=2"
	    "&DeleteMessageBatchRequestEntry.2.ReceiptHandle=h%222%5C"));

	/* ChangeMessageVisibilityBatch: the same entries, each with its
	 * timeout */
	e[0].seconds = 60;
	e[2].seconds = 43200;
	sqsreq_hide(&b, SQS_JSON, Q, e, pending, 3);
	CHECK(body_is(&b, "{\"QueueUrl\":\"" Q "\",\"Entries\":["
	    "{\"Id\":\"0\",\"ReceiptHandle\":\"AQEB+/a=b&c\",\"VisibilityTimeout\":60},"
	    "{\"Id\":\"2\",\"ReceiptHandle\":\"h\\\"2\\\\\",\"VisibilityTimeout\":43200}]}"));
	sqsreq_hide(&b, SQS_QUERY, Q, e, pending, 3);
	CHECK(body_is(&b, "Action=ChangeMessageVisibilityBatch&Version=2012-11-05"
	    "&QueueUrl=" QF
	    "&ChangeMessageVisibilityBatchRequestEntry.1.Id=0"
	    "&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=AQEB%2B%2Fa%3Db%26c"
	    "&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=60"
	    "&ChangeMessageVisibilityBatchRequestEntry.2.Id=2"
	    "&ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle=h%222%5C"
	    "&ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout=43200"));

	sqsreq_send(&b, SQS_JSON, Q, "{\"a\":\"\xc3\xa9\"}\n", 11);
	CHECK(body_is(&b, "{\"QueueUrl\":\"" Q "\",\"MessageBody\":"
	    "\"{\\\"a\\\":\\\"\xc3\xa9\\\"}\\n\"}"));
	sqsreq_send(&b, SQS_QUERY, Q, "a b~\xc3\xa9", 6);
	CHECK(body_is(&b, "Action=SendMessage&Version=2012-11-05&QueueUrl=" QF
	    "&MessageBody=a%20b~%C3%A9"));
	CHECK(!b.oom);
	obuf_free(&b);
	return check_done("test_sqsreq");
}
