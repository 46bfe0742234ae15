#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# The hostile-input corpus (tests/helpers/hostile.py, documented in
# docs/reliability.md) through each stage and through the whole pipeline.

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	H=$BATS_TEST_DIRNAME/helpers/hostile.py
	KEY=$BATS_TEST_TMPDIR/key
	fa_key "$KEY"
}

@test "hostile corpus: pii-mask gives every envelope its documented outcome" {
	python3 "$H" envelopes | pii-mask -k "$KEY" >"$BATS_TEST_TMPDIR/out"
	paste <(python3 "$H" expected | cut -f1) <(jq -r '.reject // "row"' "$BATS_TEST_TMPDIR/out") |
	    diff -u <(python3 "$H" expected) -
	[ "$(python3 "$H" expected | wc -l)" -ge 40 ]
}

@test "hostile corpus: pii-mask gives every bare line its documented outcome" {
	python3 "$H" bare | pii-mask -k "$KEY" >"$BATS_TEST_TMPDIR/out"
	paste <(python3 "$H" bare-expected | cut -f1) <(jq -r '.reject // "row"' "$BATS_TEST_TMPDIR/out") |
	    diff -u <(python3 "$H" bare-expected) -
}

@test "hostile corpus: pg-load stores the rows, records the rejects, takes no value as SQL" {
	createdb hostile_load
	export PGDATABASE=hostile_load
	python3 "$H" envelopes | pii-mask -k "$KEY" >"$BATS_TEST_TMPDIR/rows"
	run --separate-stderr pg-load --create <"$BATS_TEST_TMPDIR/rows"
	[ "$status" -eq 0 ]
	rows=$(python3 "$H" expected | grep -c '	row$')
	rejects=$(python3 "$H" expected | grep -vc '	row$')
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq "$rows" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_rejects")" -eq "$rejects" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins WHERE user_id = 'x''); DROP TABLE user_logins;--'")" -eq 1 ]
	[ "$(fa_psql -c "SELECT user_id FROM user_logins WHERE user_id LIKE 'a%b%N%'")" = "$(printf 'a\tb\\Nc\\.d\re\nf')" ]
}

@test "hostile NDJSON lines: sqs-ack skips what it cannot use, pg-load rejects it; both say so and carry on" {
	fa_queue "hostile-ack-$RANDOM"
	seq 3 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 >"$BATS_TEST_TMPDIR/good"
	{
		echo 'not json'
		echo ''
		echo '[]'
		printf '\xff\xfe\n'
		echo '{"receipt_handle":5}'
		echo '{"receipt_handle":""}'
		echo '{"receipt_handle":"a\u0000b"}'
		echo '{"receipt_handle":"x","receipt_handle":"y"}'
		echo '{"message_id":"odd","receipt_handle":"<&\"'"'"' é漢 \\\\ \t>"}'
		echo '{"reject":"not JSON","receipt_handle":"r"}'
		cat "$BATS_TEST_TMPDIR/good"
		printf '{"receipt_handle":"trunc'
	} >"$BATS_TEST_TMPDIR/lines"
	run --separate-stderr sqs-ack <"$BATS_TEST_TMPDIR/lines"
	[ "$status" -eq 1 ]	# unusable lines were there
	[ "$(grep -c 'no receipt_handle; skipped' <<<"$stderr")" -eq 9 ]
	[[ "$stderr" == *'sqs-ack: message "odd" not deleted'*'"ReceiptHandleIsInvalid"'* ]]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]	# the good ones went
	createdb hostile_lines
	run --separate-stderr env PGDATABASE=hostile_lines pg-load --create <"$BATS_TEST_TMPDIR/lines"
	[ "$status" -eq 1 ]
	# every line comes out as a reject: the one reject line as it came,
	# the others as pg-load's own; nothing is acknowledged
	[ "${#lines[@]}" -eq 14 ]
	[ "${lines[9]}" = '{"reject":"not JSON","receipt_handle":"r"}' ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -e -s 'map(select(.reject == null)) | length')" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .reject | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')" -ge 6 ]
	[[ "$stderr" == *'line 9: message "odd" not usable: "line: neither a row nor a reject"'* ]]
}

@test "hostile corpus: the whole pipeline stores the good, leaves the bad, leaks nothing" {
	fa_queue "hostile-pipe-$RANDOM" 3
	createdb hostile_pipe
	export PGDATABASE=hostile_pipe PII_MASK_KEY_FILE=$KEY
	python3 "$H" sqs >"$BATS_TEST_TMPDIR/sqs"
	fa_sqs SetQueueAttributes "{\"QueueUrl\":\"$QUEUE_URL\",\"Attributes\":{\"MaximumMessageSize\":\"1048576\"}}" >/dev/null
	jq -c --arg u "$QUEUE_URL" '{QueueUrl: $u, MessageBody: .body}' "$BATS_TEST_TMPDIR/sqs" |
	    while IFS= read -r req; do
		printf '%s' "$req" >"$BATS_TEST_TMPDIR/req"	# 1 MiB: no argv
		fa_sqs SendMessage "@$BATS_TEST_TMPDIR/req" >/dev/null
	done
	run --separate-stderr ./pipeline.sh --until-empty --wait-seconds 0 --create
	[ "$status" -eq 0 ]
	rows=$(jq -r 'select(.outcome == "row") | .name' "$BATS_TEST_TMPDIR/sqs" | wc -l)
	total=$(wc -l <"$BATS_TEST_TMPDIR/sqs")
	[ "$total" -ge 30 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq "$rows" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq $((total - rows)) ]
	# no raw ip or device_id of the corpus in the table or any log
	pg_dump --data-only "$PGDATABASE" >"$BATS_TEST_TMPDIR/dump"
	printf '%s\n' 199.172.111.135 593-47-5928 2001:DB8::1 >"$BATS_TEST_TMPDIR/raw"
	run grep -F -f "$BATS_TEST_TMPDIR/raw" "$BATS_TEST_TMPDIR/dump" <(printf '%s' "$stderr")
	[ "$status" -eq 1 ]
}

@test "docs/reliability.md lists the corpus as it is" {
	sed -n '/^| # | input | outcome |$/,/^$/p' "$FA_TOP/docs/reliability.md" | sed '/^$/d' |
	    diff -u <(python3 "$H" doc) -
}
