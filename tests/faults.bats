#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# Write failures injected with tests/inject_errors.so (LD_PRELOAD): a full
# disk or a closed pipe downstream gives a clear error and exit status 4,
# and nothing is acknowledged that was not stored.

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	SHIM=$FA_TOP/tests/inject_errors.so
	[ -f "$SHIM" ] || make -s -C "$FA_TOP" tests/inject_errors.so
	KEY=$BATS_TEST_TMPDIR/key
	fa_key "$KEY"
}

# inject ERRNO AFTER CMD...: runs CMD with stdout writes failing after AFTER.
inject() {
	local e=$1 after=$2
	shift 2
	FA_FAIL_WRITE_FD=1 FA_FAIL_WRITE_AFTER=$after FA_FAIL_ERRNO=$e LD_PRELOAD=$SHIM "$@"
}

@test "pii-mask: a full disk on stdout is exit 4 with the reason" {
	python3 "$FA_TOP/bench/gen-logins.py" 20000 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr inject ENOSPC 2 pii-mask -k "$KEY" <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"pii-mask: writing standard output: No space left on device"* ]]
}

@test "sqs-recv: a closed pipe downstream is exit 4; the messages stay on the queue" {
	fa_queue "fault-recv-$RANDOM"
	seq 30 | fa_send "$QUEUE_URL"
	run --separate-stderr inject EPIPE 0 sqs-recv --until-empty --wait-seconds 0 --visibility-timeout 1
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"sqs-recv: writing standard output: Broken pipe"* ]]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 30 ]
}

@test "pg-load: when its acknowledgements cannot be written it stops: rows committed, nothing acknowledged" {
	createdb "fault_$BATS_TEST_NUMBER"
	export PGDATABASE="fault_$BATS_TEST_NUMBER"
	pg-load --create </dev/null
	python3 "$FA_TOP/bench/gen-logins.py" 50 | pii-mask -k "$KEY" >"$BATS_TEST_TMPDIR/rows"
	run --separate-stderr inject ENOSPC 0 pg-load <"$BATS_TEST_TMPDIR/rows"
	[ "$status" -eq 4 ]
	[ -z "$output" ]
	[[ "$stderr" == *"pg-load: writing standard output: No space left on device"* ]]
	# the batch was committed before its acks: a redelivery is stored once
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 50 ]
	pg-load <"$BATS_TEST_TMPDIR/rows" >"$BATS_TEST_TMPDIR/acks"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 50 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 50 ]
}

@test "the pipeline with pg-load's output failing: nothing deleted, a rerun finishes the job" {
	fa_queue "fault-pipe-$RANDOM"
	createdb "fault_$BATS_TEST_NUMBER"
	export PGDATABASE="fault_$BATS_TEST_NUMBER"
	head -24 "$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson" | fa_send "$QUEUE_URL"
	run bash -c 'set -o pipefail; sqs-recv --until-empty --wait-seconds 0 --visibility-timeout 1 | pii-mask -k "$1" |
	    FA_FAIL_WRITE_FD=1 FA_FAIL_WRITE_AFTER=0 LD_PRELOAD="$2" pg-load --create | sqs-ack' _ "$KEY" "$SHIM"
	[ "$status" -ne 0 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 24 ]
	sleep 1.5
	PII_MASK_KEY_FILE=$KEY ./pipeline.sh --until-empty --wait-seconds 0
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "24|24" ]
}

# The pid of STAGE among the processes of the pipeline whose leader is $1,
# by its command line (under make valgrind, the process is valgrind's).
stage_pid() {
	pgrep -g "$(ps -o pgid= -p "$1" | tr -d ' ')" -f "bin/$2( |$)" | tail -1
}

@test "SIGKILL of each stage at random moments, five times each; then a drain: every valid message once, every invalid still queued" {
	fa_queue "kill-$RANDOM" 1000	# rejects stay on the main queue
	createdb "kill_$BATS_TEST_NUMBER"
	export PGDATABASE="kill_$BATS_TEST_NUMBER" PII_MASK_KEY_FILE=$KEY
	pg-load --create </dev/null
	sample=$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson
	for _ in $(seq 10); do cat "$sample"; done >"$BATS_TEST_TMPDIR/msgs"	# 240 valid, 60 invalid
	fa_send "$QUEUE_URL" <"$BATS_TEST_TMPDIR/msgs"
	kills=0
	for stage in sqs-recv pii-mask pg-load sqs-ack; do
		for _ in 1 2 3 4 5; do
			setsid ./pipeline.sh --wait-seconds 1 --visibility-timeout 2 --batch-rows 20 \
			    --flush-ms 50 >/dev/null 2>&1 3>&- &
			leader=$!
			sleep "0.$((RANDOM % 9 + 1))"
			pid=$(stage_pid "$leader" "$stage" || true)
			if [ -n "$pid" ]; then
				kill -KILL "$pid" && kills=$((kills + 1))
			fi
			sleep 0.2
			kill -TERM -- "-$(ps -o pgid= -p "$leader" | tr -d ' ')" 2>/dev/null || true
			wait "$leader" || true
		done
	done
	echo "stages killed: $kills"
	[ "$kills" -ge 16 ]
	sleep 2.5	# every message visible again
	./pipeline.sh --until-empty --wait-seconds 1 --visibility-timeout 30 >/dev/null 2>&1 || true
	# 240 valid messages, 24 distinct logins each sent 10 times as distinct messages
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 240 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 240 ]
	[ "$(fa_psql -c "SELECT count(*) FROM (SELECT user_id FROM user_logins GROUP BY user_id HAVING count(*) <> 10) x")" -eq 0 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 60 ]
}

@test "an SQS outage mid-run (moto frozen with SIGSTOP) is waited out; nothing lost" {
	fa_queue "outage-$RANDOM"
	createdb "outage_$BATS_TEST_NUMBER"
	export PGDATABASE="outage_$BATS_TEST_NUMBER" PII_MASK_KEY_FILE=$KEY
	sample=$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson
	for _ in $(seq 5); do head -24 "$sample"; done | fa_send "$QUEUE_URL"
	./pipeline.sh --until-empty --wait-seconds 1 --create --batch-rows 10 >/dev/null \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	sleep 0.3
	kill -STOP "$FA_MOTO_PID"
	sleep 3
	kill -CONT "$FA_MOTO_PID"
	wait "$pid"
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 120 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

# proxy_later PORT DROP: after half a second, a TCP proxy on PORT to moto
# that drops its first DROP connections unanswered; until then nothing
# listens there and connections are refused.  Sets PROXY_PID.
proxy_later() {
	sleep 0.5
	fa_detached python3 "$BATS_TEST_DIRNAME/helpers/tcp-proxy.py" "$1" \
	    "${AWS_ENDPOINT_URL#http://}" --drop "$2" 2>>"$BATS_TEST_TMPDIR/proxy" &
	PROXY_PID=$!
}

teardown() {
	[ -z "${PROXY_PID:-}" ] || kill "$PROXY_PID" 2>/dev/null || true
}

@test "an SQS that refuses connections, then drops them unanswered, during concurrent receives and deletes: retried, nothing lost" {
	fa_queue "refuse-$RANDOM"
	seq 30 | fa_send "$QUEUE_URL"
	export AWS_MAX_ATTEMPTS=12	# backoff up to 10 s between tries
	port=$(fa_free_port)
	sqs-recv --endpoint-url "http://127.0.0.1:$port" --until-empty --wait-seconds 0 \
	    --visibility-timeout 120 --concurrency 3 >"$BATS_TEST_TMPDIR/out" \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	proxy_later "$port" 3
	wait "$pid"
	# Three receives at once may be handed one message twice (SQS is
	# at least once); every one of the 30 is there.
	[ "$(jq -r .body "$BATS_TEST_TMPDIR/out" | sort -nu | wc -l)" -eq 30 ]
	[ "$(grep -c dropped "$BATS_TEST_TMPDIR/proxy")" -eq 3 ]
	kill "$PROXY_PID"
	wait "$PROXY_PID" || true

	port=$(fa_free_port)
	sqs-ack --endpoint-url "http://127.0.0.1:$port" --concurrency 3 \
	    <"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	proxy_later "$port" 2
	wait "$pid"
	[ "$(grep -c dropped "$BATS_TEST_TMPDIR/proxy")" -eq 5 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "the key is never on a command line or in an environment that ps shows" {
	fa_queue "key-$RANDOM"
	createdb "key_$BATS_TEST_NUMBER"
	export PGDATABASE="key_$BATS_TEST_NUMBER" PII_MASK_KEY_FILE=$KEY
	head -5 "$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson" | fa_send "$QUEUE_URL"
	setsid ./pipeline.sh --wait-seconds 1 --create >/dev/null 2>&1 3>&- &
	pid=$!
	sleep 1
	secret=$(tr -d ' \n' <"$KEY")
	ps -eo args >"$BATS_TEST_TMPDIR/ps"
	cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' >"$BATS_TEST_TMPDIR/env" || true
	kill -TERM -- "-$pid" 2>/dev/null || true	# its whole process group
	wait "$pid" || true
	grep -q pii-mask "$BATS_TEST_TMPDIR/ps"	# it was running
	run grep -F "${secret:0:16}" "$BATS_TEST_TMPDIR/ps" "$BATS_TEST_TMPDIR/env"
	[ "$status" -eq 1 ]
}
