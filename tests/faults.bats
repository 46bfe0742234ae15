#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# Write failures injected with tests/inject_errors.so (LD_PRELOAD): a full
# disk or a closed pipe downstream gives a clear error and exit status 4,
# and nothing is acknowledged that was not stored.

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
