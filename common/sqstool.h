/*
 * sqstool.h - what sqs-recv and sqs-ack share in main(): opening the
 * queue named on the command line or in $SQS_QUEUE_URL, and mapping a
 * failed call to its exit status.  Like tool.h, these exit.
 */
#ifndef SQSTOOL_H
#define SQSTOOL_H

#include "sqs.h"

/* Opens queue_url, or $SQS_QUEUE_URL when it is NULL; exits EXIT_USAGE
 * when there is none, EXIT_CONFIG when the client cannot be set up. */
struct sqs *xsqs_open(const char *queue_url, const char *endpoint_url);

/* The exit status for a failed call. */
int sqstool_exit_status(enum sqs_status st);

#endif
