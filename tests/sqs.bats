#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# sqs-recv and sqs-ack against a real moto_server over HTTP.

bats_require_minimum_version 1.5.0

load services

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

@test "sqs-ack: a stale receipt handle is reported by message_id, not fatal" {
	seq 2 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/in"
	printf '%s\n' '{"message_id":"bogus-1","receipt_handle":"not-a-handle"}' >>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sqs-ack <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *'message "bogus-1" not deleted, its receipt handle no longer valid (it will come back): "ReceiptHandleIsInvalid"'* ]]
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

@test "both protocols: bodies of any Unicode, quotes, markup, CR and newlines survive byte for byte" {
	body1=$(printf 'tab\there "q" \\ back <a href="x">&amp;</a> é 漢字 😀')
	body2=$(printf 'line1\r\nline2\nend\r')
	for p in json query; do
		for b in "$body1" "$body2" '{"user_id":"x"}'; do
			fa_sqs SendMessage "$(jq -cn --arg u "$QUEUE_URL" --arg b "$b" '{QueueUrl: $u, MessageBody: $b}')" >/dev/null
		done
		sqs-recv --protocol "$p" --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/out.$p"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out.$p")" -eq 3 ]
		jq -e --arg b1 "$body1" --arg b2 "$body2" -s \
		    '[.[].body] | sort == ([$b1, $b2, "{\"user_id\":\"x\"}"] | sort)' "$BATS_TEST_TMPDIR/out.$p" >/dev/null
		jq -e -s 'all(.[]; (.sent_timestamp | type) == "number" and .receive_count == 1)' \
		    "$BATS_TEST_TMPDIR/out.$p" >/dev/null
		sqs-ack --protocol "$p" <"$BATS_TEST_TMPDIR/out.$p"
		[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
	done
}

@test "--protocol auto falls back to Query/XML when the server does not speak JSON" {
	fa_responder query-only "$AWS_ENDPOINT_URL"
	seq 12 | fa_send "$QUEUE_URL"
	run --separate-stderr env AWS_ENDPOINT_URL="http://127.0.0.1:$RESPONDER_PORT" \
	    bash -c 'sqs-recv --until-empty --wait-seconds 0 | sqs-ack'
	kill "$RESPONDER_PID"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
	# each tool tried JSON once, then spoke Query only
	[ "$(grep -c '^json' "$RESPONDER_LOG")" -eq 2 ]
	grep -q '^query ReceiveMessage' "$RESPONDER_LOG"
	grep -q '^query DeleteMessageBatch' "$RESPONDER_LOG"
	# --protocol json says what is wrong instead
	fa_responder query-only "$AWS_ENDPOINT_URL"
	run env AWS_ENDPOINT_URL="http://127.0.0.1:$RESPONDER_PORT" sqs-recv --protocol json --until-empty
	kill "$RESPONDER_PID"
	[ "$status" -eq 3 ]
	[[ "$output" == *"try --protocol query"* ]]
}

@test "https: the peer is always verified; --ca-bundle, else AWS_CA_BUNDLE, names the CA" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 -keyout "$BATS_TEST_TMPDIR/key.pem" \
	    -out "$BATS_TEST_TMPDIR/cert.pem" 2>/dev/null
	fa_responder empty --tls "$BATS_TEST_TMPDIR/cert.pem" "$BATS_TEST_TMPDIR/key.pem"
	url=https://127.0.0.1:$RESPONDER_PORT/
	run sqs-recv --endpoint-url "$url" --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	[[ "$output" == *"certificate"* ]]
	run sqs-recv --endpoint-url "$url" --ca-bundle "$BATS_TEST_TMPDIR/cert.pem" --until-empty --wait-seconds 0
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# AWS_CA_BUNDLE, as the SDKs read it, below --ca-bundle
	AWS_CA_BUNDLE=$BATS_TEST_TMPDIR/cert.pem sqs-recv --endpoint-url "$url" --until-empty --wait-seconds 0
	run env AWS_CA_BUNDLE=/dev/null sqs-recv --endpoint-url "$url" --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	AWS_CA_BUNDLE=/dev/null sqs-recv --endpoint-url "$url" --ca-bundle "$BATS_TEST_TMPDIR/cert.pem" \
	    --until-empty --wait-seconds 0
	kill "$RESPONDER_PID"
}

@test "sqs-recv: SIGTERM during a long poll ends it at once, cleanly" {
	sqs-recv --wait-seconds 20 >"$BATS_TEST_TMPDIR/out" &
	pid=$!
	sleep 1
	start=$(date +%s)
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 0 ]
	[ $(($(date +%s) - start)) -lt 5 ]
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
}

@test "sqs-ack: SIGTERM deletes what it has read, then exits 0" {
	seq 4 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 --visibility-timeout 60 >"$BATS_TEST_TMPDIR/in"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	sqs-ack <"$BATS_TEST_TMPDIR/fifo" &
	pid=$!
	exec {w}>"$BATS_TEST_TMPDIR/fifo"
	head -3 "$BATS_TEST_TMPDIR/in" >&"$w"
	for _ in $(seq 50); do
		[ "$(fa_queue_count "$QUEUE_URL")" -eq 1 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	exec {w}>&-
	[ "$status" -eq 0 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 1 ]
}

@test "--endpoint-url overrides AWS_ENDPOINT_URL" {
	seq 2 | fa_send "$QUEUE_URL"
	moto=$AWS_ENDPOINT_URL
	AWS_ENDPOINT_URL=http://127.0.0.1:9 run sqs-recv --endpoint-url "$moto" --until-empty --wait-seconds 0
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "sqs-recv: a 1 MiB message survives byte for byte, through both protocols" {
	fa_sqs SetQueueAttributes "{\"QueueUrl\":\"$QUEUE_URL\",\"Attributes\":{\"MaximumMessageSize\":\"1048576\"}}" >/dev/null
	python3 -c 'import random, sys
random.seed(5)
alphabet = "abc\"\\\\é漢😀<>&\n\r\t{}[],:"
s = "".join(random.choice(alphabet) for _ in range(800000))
b = s.encode()[:1048576]
while True:
    try:
        b.decode(); break
    except UnicodeDecodeError:
        b = b[:-1]
sys.stdout.buffer.write(b)' >"$BATS_TEST_TMPDIR/body"
	[ "$(wc -c <"$BATS_TEST_TMPDIR/body")" -gt 1000000 ]
	for p in json query; do
		jq -Rs --arg u "$QUEUE_URL" '{QueueUrl: $u, MessageBody: .}' "$BATS_TEST_TMPDIR/body" >"$BATS_TEST_TMPDIR/req"
		fa_sqs SendMessage "@$BATS_TEST_TMPDIR/req" >/dev/null
		sqs-recv --protocol "$p" --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/out"
		jq -j .body "$BATS_TEST_TMPDIR/out" | cmp - "$BATS_TEST_TMPDIR/body"
		sqs-ack --protocol "$p" <"$BATS_TEST_TMPDIR/out"
	done
}

@test "--concurrency: N receivers and N deleters lose nothing" {
	seq 230 | fa_send "$QUEUE_URL"
	sqs-recv --concurrency 8 --until-empty --wait-seconds 0 --visibility-timeout 5 \
	    >"$BATS_TEST_TMPDIR/out"
	# SQS delivers at least once (moto, under concurrent receives, now and
	# then hands one message to two of them, or hides one that no answer
	# carried, until its visibility timeout): every message is received,
	# a repeat is allowed, and pg-load's ledger stores it once.
	sqs-ack --concurrency 8 <"$BATS_TEST_TMPDIR/out"
	if [ "$(fa_queue_count "$QUEUE_URL")" -ne 0 ]; then
		sleep 5.5	# what moto hid comes back
		sqs-recv --until-empty --wait-seconds 0 | tee -a "$BATS_TEST_TMPDIR/out" |
		    sqs-ack
	fi
	[ "$(jq -r .message_id "$BATS_TEST_TMPDIR/out" | sort -u | wc -l)" -eq 230 ]
	[ "$(jq -r .body "$BATS_TEST_TMPDIR/out" | sort -nu | paste -sd+ | bc)" -eq $((230 * 231 / 2)) ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "--concurrency N: N long polls in flight at once, from one thread, each on its own connection" {
	port=${AWS_ENDPOINT_URL##*:}
	sqs-recv --concurrency 4 --max-messages 40 --wait-seconds 20 >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	# The queue is empty: all four receives wait in moto, each on a
	# connection of its own.
	for _ in $(seq 100); do
		n=$(ss -Htnp state established "( dport = :$port )" | grep -c "pid=$pid,") || true
		[ "$n" -ge 4 ] && break
		sleep 0.1
	done
	[ "$n" -eq 4 ]
	[ "$(ls /proc/$pid/task | wc -l)" -eq 1 ]
	seq 40 | fa_send "$QUEUE_URL"
	wait "$pid"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 40 ]
}

@test "--concurrency with --max-messages: exactly that many, never more, never fewer" {
	seq 100 | fa_send "$QUEUE_URL"
	for n in 1 25 37; do
		sqs-recv --concurrency 6 --max-messages "$n" --wait-seconds 0 --visibility-timeout 60 \
		    >"$BATS_TEST_TMPDIR/out.$n"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out.$n")" -eq "$n" ]
	done
}

@test "credentials from moto's STS: its AssumeRole and AssumeRoleWithWebIdentity answers are read and used" {
	seq 2 | fa_send "$QUEUE_URL"
	mkdir -p "$BATS_TEST_TMPDIR/home/.aws"
	echo 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJwb2QifQ.' >"$BATS_TEST_TMPDIR/token"
	cat >"$BATS_TEST_TMPDIR/home/.aws/config" <<-INI
	[profile base]
	aws_access_key_id = $AWS_ACCESS_KEY_ID
	aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
	[profile role]
	role_arn = arn:aws:iam::123456789012:role/etl
	source_profile = base
	[profile web]
	role_arn = arn:aws:iam::123456789012:role/irsa
	web_identity_token_file = $BATS_TEST_TMPDIR/token
	INI
	export HOME=$BATS_TEST_TMPDIR/home AWS_ENDPOINT_URL_STS=$AWS_ENDPOINT_URL
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=role \
	    sqs-recv --max-messages 1 --wait-seconds 1 >"$BATS_TEST_TMPDIR/out"
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=web \
	    sqs-recv --max-messages 1 --wait-seconds 1 >>"$BATS_TEST_TMPDIR/out"
	[ "$(jq -r .body "$BATS_TEST_TMPDIR/out" | sort | paste -sd,)" = "1,2" ]
}

# A tool a test left running when it failed.
teardown() {
	[ -z "${RECV_PID:-}" ] || kill -KILL "$RECV_PID" 2>/dev/null || true
}

@test "sqs-recv: a message that comes back before it is deleted is written again, then kept hidden for --hold-seconds" {
	fa_queue "hold-$RANDOM" 10	# no redrive before the tenth receive
	seq 3 | fa_send "$QUEUE_URL"
	# nobody deletes: each comes back after its 2 s
	sqs-recv --visibility-timeout 2 --wait-seconds 1 --hold-seconds 5 \
	    --metrics-file "$BATS_TEST_TMPDIR/m.prom" >"$BATS_TEST_TMPDIR/out" 3>&- &
	RECV_PID=$!
	for _ in $(seq 100); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -ge 6 ] && break
		sleep 0.1
	done
	sleep 2.5	# no third receive while held
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 6 ]
	# the copy written again carries the newer receipt handle
	[ "$(jq -r .receive_count "$BATS_TEST_TMPDIR/out" | sort | uniq -c | awk '{print $1 "x" $2}' | paste -sd,)" = "3x1,3x2" ]
	# after the 5 s hold they come back once more
	for _ in $(seq 100); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -ge 9 ] && break
		sleep 0.1
	done
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 9 ]
	kill -TERM "$RECV_PID"
	wait "$RECV_PID"
	RECV_PID=
	grep -qx 'fetch_awards_came_back_messages_total{tool="sqs-recv"} 6' "$BATS_TEST_TMPDIR/m.prom"
	# held no more once it ended: back after the last hide (5 s); and
	# a drain holds nothing (rejects must reach the redrive)
	sleep 5.5
	sqs-recv --until-empty --wait-seconds 0 --visibility-timeout 1 >"$BATS_TEST_TMPDIR/out2"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out2")" -eq 3 ]
}

@test "sqs-recv: output that is not read stops the receiving, not the loop" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	exec 7<>"$BATS_TEST_TMPDIR/fifo"	# open, never read
	head -c 1000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/body"
	for _ in $(seq 1000); do cat "$BATS_TEST_TMPDIR/body"; echo; done | fa_send "$QUEUE_URL"
	sqs-recv --wait-seconds 1 --health-file "$BATS_TEST_TMPDIR/health" \
	    >"$BATS_TEST_TMPDIR/fifo" 3>&- 7>&- &
	RECV_PID=$!
	# until the receiving stops: the same count 3 s apart
	n=-1
	for _ in $(seq 20); do
		prev=$n
		sleep 3
		n=$(fa_sqs GetQueueAttributes "{\"QueueUrl\":\"$QUEUE_URL\",\"AttributeNames\":[\"All\"]}" |
		    jq '.Attributes.ApproximateNumberOfMessagesNotVisible | tonumber')
		[ "$n" -eq "$prev" ] && break
	done
	echo "received while the output is stuck: $n"
	[ "$n" -eq "$prev" ]
	# a pipe (64 KiB) and OUT_HIGH (64 KiB) of lines of about 1.3 KiB,
	# and a batch of 10 more
	[ "$n" -ge 50 ] && [ "$n" -le 200 ]
	h=$(stat -c %y "$BATS_TEST_TMPDIR/health")
	sleep 2
	[ "$(stat -c %y "$BATS_TEST_TMPDIR/health")" != "$h" ]	# alive
	kill -TERM "$RECV_PID"
	# it still writes what it received, so the reader drains it
	cat <&7 >"$BATS_TEST_TMPDIR/out" &
	reader=$!
	wait "$RECV_PID"
	RECV_PID=
	exec 7>&-
	sleep 0.5
	kill "$reader" 2>/dev/null || true
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq "$n" ]
}
