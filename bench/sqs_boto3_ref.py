#!/usr/bin/env python3
"""The reference for bench/sqs.sh: boto3 draining a queue the way
sqs-recv | sqs-ack does (receive 10, delete them in one batch), until it
is empty or MAX messages were handled, printing the client CPU seconds its
loop took (imports and client set-up not counted).

  sqs_boto3_ref.py QUEUE_URL [MAX]"""
import sys
import time

import boto3

queue_url = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
sqs = boto3.client("sqs")
start = time.process_time()
done = 0
while limit is None or done < limit:
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                              MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"])
    msgs = got.get("Messages", [])
    if not msgs:
        break
    sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    done += len(msgs)
print("%.3f" % (time.process_time() - start))
