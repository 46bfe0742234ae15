#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# Outages waited out: a continuous pipeline against SQS refusing
# connections for a minute, and against PostgreSQL stopped for a minute.
# Each then drains: every valid message stored once and deleted, none in
# the dead-letter queue (maxReceiveCount 3), and SIGTERM ends it with 0.
# FA_OUTAGE_SECONDS shortens the outages for a quick run (default 60).

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	PGDATABASE="outage_${BATS_TEST_NUMBER}_$RANDOM"
	createdb "$PGDATABASE"
	export PGDATABASE
	KEY=$BATS_TEST_TMPDIR/key
	fa_key "$KEY"
	export PII_MASK_KEY_FILE=$KEY
	OUTAGE=${FA_OUTAGE_SECONDS:-60}
	SAMPLE=$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson
	pg-load --create </dev/null
}

teardown() {
	[ -z "${PROXY_PID:-}" ] || kill "$PROXY_PID" 2>/dev/null || true
	if [ -n "${PIPE_PID:-}" ]; then	# a second signal kills every stage
		kill -TERM "$PIPE_PID" 2>/dev/null || true
		sleep 0.5
		kill -TERM "$PIPE_PID" 2>/dev/null || true
	fi
	fa_pg_running || fa_pg_restart_stopped
}

# valid N: N valid message bodies (the 24 sample logins over and over);
# invalid N: N that are not JSON.
valid() {
	for _ in $(seq $(($1 / 24 + 1))); do head -n 24 "$SAMPLE"; done | head -n "$1"
}
invalid() {
	seq "$1" | sed 's/^/not json /'
}

# proxy PORT: a TCP proxy on PORT to moto (tests/helpers/tcp-proxy.py);
# sets PROXY_PID.  Killed, connections to PORT are refused.
proxy() {
	fa_detached python3 "$BATS_TEST_DIRNAME/helpers/tcp-proxy.py" "$1" \
	    "${AWS_ENDPOINT_URL#http://}" 2>/dev/null &
	PROXY_PID=$!
	for _ in $(seq 50); do
		(exec 6<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# until_rows N [SECONDS]: waits for N rows (at most SECONDS, default 60).
until_rows() {
	for _ in $(seq $((${2:-60} * 10))); do
		[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# The checks after a drain: N rows, each message once, no valid message
# left on either queue, the invalid ones all there (queue or parked).
drained() {
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq "$1" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq "$1" ]
	# Parked messages: only invalid ones.  (Receiving from the
	# dead-letter queue changes nothing the checks below count.)
	fa_sqs ReceiveMessage "{\"QueueUrl\":\"$DLQ_URL\",\"MaxNumberOfMessages\":10,\"VisibilityTimeout\":0}" |
	    jq -r '.Messages // [] | .[].Body' >"$BATS_TEST_TMPDIR/parked"
	run ! grep -v '^not json ' "$BATS_TEST_TMPDIR/parked"
	[ "$(($(fa_queue_count "$QUEUE_URL") + $(fa_queue_count "$DLQ_URL")))" -eq "$2" ]
}

# drain_and_stop: once the service is back, the 240 valid messages
# stored; then SIGTERM, exit 0, and the checks of drained().
drain_and_stop() {
	until_rows 240 120
	sleep 3		# the last deletes
	kill -TERM "$PIPE_PID"
	wait "$PIPE_PID"
	PIPE_PID=
	drained 240 6
	figures
}

# figures: what docs/reliability.md quotes (bats --show-output-of-passing-tests).
figures() {
	grep -E 'is failing|answers again' "$BATS_TEST_TMPDIR/err" || true
	grep -h -E '^fetch_awards_(came_back_messages_total|retries_total|duplicate_messages_total|stale_receipts_total)' \
	    "$BATS_TEST_TMPDIR/m"/*.prom || true
}

@test "a continuous pipeline waits out SQS refusing connections, then drains: each message once, none valid parked" {
	fa_queue "sqsout-$RANDOM" 3
	{ valid 120; invalid 6; } | fa_send "$QUEUE_URL"
	port=$(fa_free_port)
	proxy "$port"
	mkdir "$BATS_TEST_TMPDIR/m"
	# Batches that wait 2 s before their commit: the outage begins while
	# messages are received and not yet deleted.
	./pipeline.sh --endpoint-url "http://127.0.0.1:$port" --flush-ms 2000 \
	    --metrics-file "$BATS_TEST_TMPDIR/m/fa.prom" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	PIPE_PID=$!
	# every message received, none committed yet: refuse connections now
	for _ in $(seq 100); do
		[ "$(fa_sqs GetQueueAttributes "{\"QueueUrl\":\"$QUEUE_URL\",\"AttributeNames\":[\"ApproximateNumberOfMessages\"]}" |
		    jq -r .Attributes.ApproximateNumberOfMessages)" -eq 0 ] && break
		sleep 0.05
	done
	kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
	valid 120 | fa_send "$QUEUE_URL"	# sent during the outage
	sleep "$OUTAGE"
	grep -q '^sqs-recv: sqs is failing: ' "$BATS_TEST_TMPDIR/err"
	# the tools live on, and say so
	kill -0 "$PIPE_PID"
	# (the metrics are rewritten every 10 s)
	[ "$OUTAGE" -lt 12 ] ||
	    grep -qx 'fetch_awards_service_up{tool="sqs-recv",service="sqs"} 0' "$BATS_TEST_TMPDIR/m/fa.sqs-recv.prom"
	proxy "$port"
	drain_and_stop
	# one line when SQS went away and one when it came back, per tool
	for t in sqs-recv sqs-ack; do
		[ "$(grep -c "^$t: sqs is failing: " "$BATS_TEST_TMPDIR/err")" -eq 1 ]
		[ "$(grep -c "^$t: sqs answers again after " "$BATS_TEST_TMPDIR/err")" -eq 1 ]
		grep -qx "fetch_awards_outages_total{tool=\"$t\",service=\"sqs\"} 1" "$BATS_TEST_TMPDIR/m/fa.$t.prom"
		grep -q "^fetch_awards_retries_total{tool=\"$t\",service=\"sqs\"} [1-9]" "$BATS_TEST_TMPDIR/m/fa.$t.prom"
		grep -qx "fetch_awards_service_up{tool=\"$t\",service=\"sqs\"} 1" "$BATS_TEST_TMPDIR/m/fa.$t.prom"
	done
	for f in "$BATS_TEST_TMPDIR/m"/*.prom; do
		promtool check metrics <"$f"
	done
}

@test "a continuous pipeline waits out PostgreSQL stopped, then drains: each message once, none valid parked" {
	fa_queue "pgout-$RANDOM" 3
	{ valid 120; invalid 6; } | fa_send "$QUEUE_URL"
	mkdir "$BATS_TEST_TMPDIR/m"
	./pipeline.sh --batch-rows 50 --flush-ms 100 \
	    --metrics-file "$BATS_TEST_TMPDIR/m/fa.prom" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	PIPE_PID=$!
	until_rows 120 60
	fa_pg_stop
	valid 120 | fa_send "$QUEUE_URL"	# received during the outage
	sleep "$OUTAGE"
	kill -0 "$PIPE_PID"
	[ "$OUTAGE" -lt 12 ] ||
	    grep -qx 'fetch_awards_service_up{tool="pg-load",service="postgresql"} 0' "$BATS_TEST_TMPDIR/m/fa.pg-load.prom"
	fa_pg_restart_stopped
	drain_and_stop
	[ "$(grep -c '^pg-load: postgresql is failing: ' "$BATS_TEST_TMPDIR/err")" -eq 1 ]
	[ "$(grep -c '^pg-load: postgresql answers again after ' "$BATS_TEST_TMPDIR/err")" -eq 1 ]
	m=$BATS_TEST_TMPDIR/m/fa.pg-load.prom
	grep -qx 'fetch_awards_outages_total{tool="pg-load",service="postgresql"} 1' "$m"
	grep -qx 'fetch_awards_service_up{tool="pg-load",service="postgresql"} 1' "$m"
	# The messages received during the outage outlived their visibility
	# timeout (30 s) in the pipeline: each came back once, and was kept
	# hidden from then on; and their commit lag shows the outage.
	if [ "$OUTAGE" -gt 35 ]; then
		n=$(sed -n 's/^fetch_awards_came_back_messages_total{tool="sqs-recv"} //p' "$BATS_TEST_TMPDIR/m/fa.sqs-recv.prom")
		[ "$n" -ge 1 ] && [ "$n" -le 126 ]
		[ "$(sed -n 's/^fetch_awards_commit_lag_seconds_bucket{tool="pg-load",le="30"} //p' "$m")" -lt 240 ]
	fi
	for f in "$BATS_TEST_TMPDIR/m"/*.prom; do
		promtool check metrics <"$f"
	done
}
