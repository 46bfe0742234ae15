#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# sqs-recv and sqs-ack against a real moto_server over HTTP.

bats_require_minimum_version 1.5.0

setup_file() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	fa_services_up
}

teardown_file() {
	fa_services_down
}

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	fa_queue "sqs-$BATS_TEST_NUMBER-$RANDOM"
}

@test "sqs-recv: one line per message, bodies byte for byte, attributes as integers" {
	printf '%s\n' '{"user_id":"a"}' 'plain text' "quote \" backslash \\ tab	é 漢字 😀" >"$BATS_TEST_TMPDIR/bodies"
	fa_send "$QUEUE_URL" <"$BATS_TEST_TMPDIR/bodies"
	before=$(($(date +%s) * 1000 - 5000))
	run --separate-stderr sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	printf '%s\n' "$output" | jq -r .body | sort >"$BATS_TEST_TMPDIR/got"
	sort "$BATS_TEST_TMPDIR/bodies" | diff -u - "$BATS_TEST_TMPDIR/got"
	printf '%s\n' "$output" | jq -e --argjson t "$before" '
	    (keys == ["body","message_id","receipt_handle","receive_count","sent_timestamp"]) and
	    (.message_id | type == "string") and (.receipt_handle | length > 0) and
	    (.sent_timestamp | type == "number" and . > $t) and .receive_count == 1' >/dev/null
}

@test "sqs-recv: a body with newlines and control characters survives" {
	body=$(printf 'line1\nline2\r\n\001\037 end')
	fa_sqs SendMessage "$(jq -cn --arg u "$QUEUE_URL" --arg b "$body" '{QueueUrl: $u, MessageBody: $b}')" >/dev/null
	sqs-recv --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 1 ]
	[ "$(jq -r .body <"$BATS_TEST_TMPDIR/out")" = "$body" ]
}

@test "sqs-recv: --max-messages stops after N, leaving the rest" {
	seq 25 | fa_send "$QUEUE_URL"
	sqs-recv --max-messages 13 --wait-seconds 0 >"$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 13 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 25 ]	# received, not deleted
}

@test "sqs-recv | sqs-ack drains a queue" {
	seq 37 | fa_send "$QUEUE_URL"
	run --separate-stderr bash -c 'sqs-recv --until-empty --wait-seconds 0 | sqs-ack'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "sqs-ack: reject lines and lines without a receipt_handle delete nothing" {
	seq 3 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 --visibility-timeout 60 >"$BATS_TEST_TMPDIR/in"
	{
		head -1 "$BATS_TEST_TMPDIR/in"
		sed -n 2p "$BATS_TEST_TMPDIR/in" | jq -c '{reject: "not JSON", message_id, receipt_handle}'
		sed -n 3p "$BATS_TEST_TMPDIR/in" | jq -c '{message_id}'
	} >"$BATS_TEST_TMPDIR/acks"
	run --separate-stderr sqs-ack <"$BATS_TEST_TMPDIR/acks"
	[ "$status" -eq 1 ]	# the line without a receipt_handle is reported
	[[ "$stderr" == *"line 3: no receipt_handle"* ]]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 2 ]
}

@test "sqs-ack: entries the service refuses are reported by message_id, exit 1" {
	seq 2 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/in"
	printf '%s\n' '{"message_id":"bogus-1","receipt_handle":"not-a-handle"}' >>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sqs-ack <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"message bogus-1 not deleted: ReceiptHandleIsInvalid"* ]]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]	# the good ones went
}

@test "sqs-ack: --queue-url overrides SQS_QUEUE_URL" {
	seq 2 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/in"
	SQS_QUEUE_URL=$DLQ_URL run sqs-ack --queue-url "$QUEUE_URL" <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "sqs tools: no such queue is a configuration error (3) naming the cause" {
	nosuch=$AWS_ENDPOINT_URL/123456789012/no-such-queue
	run --separate-stderr sqs-recv --queue-url "$nosuch" --until-empty
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"ReceiveMessage: HTTP 400 QueueDoesNotExist"* ]]
	run --separate-stderr sqs-ack --queue-url "$nosuch" <<<'{"receipt_handle":"x"}'
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"DeleteMessageBatch: HTTP 400 QueueDoesNotExist"* ]]
}

@test "sqs tools: an unreachable endpoint fails after retries with exit 5" {
	port=$(fa_free_port)
	AWS_MAX_ATTEMPTS=2 AWS_ENDPOINT_URL=http://127.0.0.1:$port run --separate-stderr sqs-recv --until-empty
	[ "$status" -eq 5 ]
	[[ "$stderr" == *"ReceiveMessage"* ]]
	AWS_MAX_ATTEMPTS=2 AWS_ENDPOINT_URL=http://127.0.0.1:$port run --separate-stderr sqs-ack <<<'{"receipt_handle":"x"}'
	[ "$status" -eq 5 ]
	[[ "$stderr" == *"DeleteMessageBatch"* ]]
}

@test "sqs tools: missing queue is usage (2), missing credentials configuration (3)" {
	run env -u SQS_QUEUE_URL sqs-recv
	[ "$status" -eq 2 ]
	[[ "$output" == *"no queue"* ]]
	run env -u AWS_ACCESS_KEY_ID sqs-ack </dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"no credentials"* ]]
	[[ "$output" != *testing* ]]	# the secret is never echoed
}

@test "sqs tools: the region comes from an AWS queue URL when not set" {
	# nothing listens there: the call fails, but not for want of a region
	run env -u AWS_REGION AWS_MAX_ATTEMPTS=1 AWS_ENDPOINT_URL=http://127.0.0.1:9 \
	    sqs-recv --queue-url https://sqs.eu-west-3.amazonaws.com/1/q --until-empty
	[ "$status" -eq 5 ]
	run env -u AWS_REGION sqs-recv --queue-url http://127.0.0.1:9/1/q --until-empty
	[ "$status" -eq 3 ]
	[[ "$output" == *"no region"* ]]
}

@test "sqs tools: --help to stdout exit 0, misuse exit 2" {
	for tool in sqs-recv sqs-ack; do
		run --separate-stderr "$tool" --help
		[ "$status" -eq 0 ]; [[ "$output" == usage:* ]]
		run --separate-stderr "$tool" --bogus
		[ "$status" -eq 2 ]; [[ "$stderr" == *usage:* ]]
	done
	run sqs-recv --wait-seconds 21
	[ "$status" -eq 2 ]
	[[ "$output" == *"--wait-seconds"* ]]
}
