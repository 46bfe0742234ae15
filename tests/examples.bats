#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output is set by bats' run
# Every example in the man pages' EXAMPLES sections runs, in a sandbox with
# a queue, a database and the files the examples name, and succeeds.

bats_require_minimum_version 1.5.0

setup_file() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	fa_services_up
	export SANDBOX=$BATS_FILE_TMPDIR/sandbox
	mkdir -p "$SANDBOX"
	head -n 24 "$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson" >"$SANDBOX/bodies.ndjson"
	export PGDATABASE="examples_$RANDOM"
	createdb "$PGDATABASE"
	export PII_MASK_KEY_FILE=$SANDBOX/mask.key
}

teardown_file() {
	fa_services_down
}

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
}

# The example commands of a page: ".Dl $ cmd" lines and "$ cmd" lines of
# literal displays, in the EXAMPLES section.
examples() {
	sed -n '/^\.Sh EXAMPLES$/,/^\.Sh /p' "$FA_TOP/man/$1.1" |
	    sed -n 's/^\.Dl \$ //p; s/^\$ //p'
}

run_examples() {
	local cmd n=0
	cd "$SANDBOX" || return 1
	while IFS= read -r cmd; do
		n=$((n + 1))
		run bash -c "set -o pipefail; $cmd" </dev/null
		[ "$status" -eq 0 ] || { echo "$1 example failed ($status): $cmd"; echo "$output"; false; }
	done < <(examples "$1")
	[ "$n" -ge 1 ]
}

@test "man pii-mask: the examples run" {
	run_examples pii-mask
	[ -s "$SANDBOX/rows.ndjson" ]
}

@test "man pg-load: the examples run" {
	pii-mask -k "$SANDBOX/mask.key" <"$SANDBOX/bodies.ndjson" >"$SANDBOX/rows.ndjson"
	run_examples pg-load
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 24 ]
}

@test "man sqs-recv: the examples run" {
	fa_queue "ex-recv-$RANDOM"
	head -5 "$SANDBOX/bodies.ndjson" | fa_send "$QUEUE_URL"
	run_examples sqs-recv
	[ "$(wc -l <"$SANDBOX/saved.ndjson")" -eq 5 ]
}

@test "man sqs-ack: the examples run" {
	fa_queue "ex-ack-$RANDOM"
	head -5 "$SANDBOX/bodies.ndjson" | fa_send "$QUEUE_URL"
	run_examples sqs-ack
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "man pipeline.sh: the examples run" {
	fa_queue "ex-pipe-$RANDOM"
	head -5 "$SANDBOX/bodies.ndjson" | fa_send "$QUEUE_URL"
	PATH=$FA_TOP:$PATH run_examples pipeline.sh
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}
