#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# The whole pipeline, pipeline.sh, against moto_server and PostgreSQL:
# rows and masks checked exactly, invalid messages kept or parked, crashes
# before acknowledgement, redelivery, and no personal data anywhere.

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	PGDATABASE="pipe_${BATS_TEST_NUMBER}_$RANDOM"
	createdb "$PGDATABASE"
	export PGDATABASE
	fa_queue "pipe-$BATS_TEST_NUMBER-$RANDOM" 2
	KEY=$BATS_TEST_TMPDIR/key
	fa_key "$KEY"
	export PII_MASK_KEY_FILE=$KEY
	SAMPLE=$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson
	VALID=24	# the first 24 sample bodies are valid, the last 6 are not
	head -n "$VALID" "$SAMPLE" >"$BATS_TEST_TMPDIR/valid"
}

# The rows we expect for valid bodies on stdin, as psql -At prints them,
# computed with jq and openssl rather than with our code.
expected_rows() {
	local date=$1 body ip dev
	while IFS= read -r body; do
		ip=$(jq -r '.ip // empty' <<<"$body")
		dev=$(jq -r '.device_id // empty' <<<"$body")
		jq -r --arg ip "${ip:+$(fa_hmac "$KEY" "$ip")}" --arg dev "${dev:+$(fa_hmac "$KEY" "$dev")}" --arg date "$date" '
		    [.user_id, .device_type // "", $ip, $dev, .locale // "",
		     (.app_version // null | if . == null then "" else
		        (split(".") | map(tonumber) | .[0] * 1000000 + .[1] * 1000 + (.[2] // 0) | tostring) end),
		     $date] | join("|")' <<<"$body"
	done | sort
}

table_rows() {
	fa_psql -c "SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
	    FROM user_logins" | sort
}

@test "pipeline: valid logins stored exactly with their masks, invalid ones left on the queue" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	run --separate-stderr ./pipeline.sh --until-empty --wait-seconds 0 --create
	[ "$status" -eq 0 ]
	expected_rows "$(date -u +%F)" <"$BATS_TEST_TMPDIR/valid" >"$BATS_TEST_TMPDIR/want"
	table_rows >"$BATS_TEST_TMPDIR/got"
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	# the six invalid messages were not acknowledged: still on the queue
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 6 ]
	# and each was logged with its reason
	[ "$(grep -c 'rejected:' <<<"$stderr")" -eq 6 ]
	# equal ips give equal masks: bodies 1 and 21 share one
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins GROUP BY masked_ip ORDER BY 1 DESC LIMIT 1")" -eq 2 ]
}

@test "pipeline: invalid messages end in the dead-letter queue, valid ones stored once" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	# rejected messages come back after 2 s, within the 5 s long poll
	# (a margin for slow runs, under ASan), until their third receive
	# moves them to the dead-letter queue; valid ones are acknowledged
	# long before their 2 s are up
	run --separate-stderr ./pipeline.sh --until-empty --wait-seconds 5 --visibility-timeout 2 --create
	[ "$status" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "$VALID|$VALID" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
	[ "$(fa_queue_count "$DLQ_URL")" -eq 6 ]
}

@test "pipeline: killed after loading, before acknowledging; the rerun stores nothing twice" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	# sqs-ack dies at once (SIGKILL): pg-load commits, then cannot ack
	run bash -c 'sqs-recv --until-empty --wait-seconds 0 --visibility-timeout 1 | pii-mask |
	    pg-load --create | sh -c "kill -KILL \$\$"'
	[ "$status" -ne 0 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq "$VALID" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 30 ]	# nothing was deleted
	sleep 1.5	# let the visibility timeout pass: everything comes back
	run ./pipeline.sh --until-empty --wait-seconds 0 --visibility-timeout 30
	[ "$status" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "$VALID|$VALID" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 6 ]
}

@test "pipeline: two messages with identical bodies are two logins" {
	head -1 "$SAMPLE" >"$BATS_TEST_TMPDIR/one"
	cat "$BATS_TEST_TMPDIR/one" "$BATS_TEST_TMPDIR/one" | fa_send "$QUEUE_URL"
	./pipeline.sh --until-empty --wait-seconds 0 --create
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "2|1" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "pipeline: SQL-looking values are stored as data" {
	grep -F "DROP TABLE" "$SAMPLE" | fa_send "$QUEUE_URL"
	./pipeline.sh --until-empty --wait-seconds 0 --create
	[ "$(fa_psql -c "SELECT user_id FROM user_logins")" = "Robert'); DROP TABLE user_logins;--" ]
}

@test "pipeline: no raw ip or device_id in the table, on stdout or on stderr" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	./pipeline.sh --until-empty --wait-seconds 0 --create \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	jq -r 'fromjson? | (.ip, .device_id) // empty | strings' <(jq -R . "$SAMPLE") |
	    sort -u >"$BATS_TEST_TMPDIR/raw"
	grep -v '^[^{]' "$SAMPLE" | grep -o '"ip": *"[^"]*"\|"device_id": *"[^"]*"' |
	    sed 's/.*: *"//; s/"$//' >>"$BATS_TEST_TMPDIR/raw"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/raw")" -ge 40 ]
	pg_dump --data-only "$PGDATABASE" >"$BATS_TEST_TMPDIR/dump"
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq "$VALID" ]
	# (a bare "! grep" cannot fail a bats test: errexit ignores it)
	run grep -F -f "$BATS_TEST_TMPDIR/raw" "$BATS_TEST_TMPDIR/dump" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 1 ]
}

@test "pipeline.sh: a failing stage makes it fail with that stage's status; nothing is deleted" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	run --separate-stderr env -u PII_MASK_KEY_FILE ./pipeline.sh --until-empty --wait-seconds 0 --create
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"pipeline.sh: pii-mask exited with status 3"* ]]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 30 ]
	run --separate-stderr ./pipeline.sh --until-empty --wait-seconds 0 --dbname "host=127.0.0.1 port=1"
	[ "$status" -eq 6 ]
	[[ "$stderr" == *"pg-load exited with status 6"* ]]
}

@test "pipeline.sh: --help, unknown options, --opt=value" {
	run ./pipeline.sh --help
	[ "$status" -eq 0 ]; [[ "$output" == usage:* ]]
	run ./pipeline.sh --frobnicate
	[ "$status" -eq 2 ]
	run ./pipeline.sh --key-file
	[ "$status" -eq 2 ]
	head -3 "$SAMPLE" | fa_send "$QUEUE_URL"
	run ./pipeline.sh --until-empty --wait-seconds=0 --create "--queue-url=$QUEUE_URL"
	[ "$status" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 3 ]
}

@test "pipeline.sh --dead-letter-queue: rejects are parked at once, bodies intact; nothing else moves" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	run --separate-stderr ./pipeline.sh --until-empty --wait-seconds 0 --create --dead-letter-queue "$DLQ_URL"
	[ "$status" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq "$VALID" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
	[ "$(fa_queue_count "$DLQ_URL")" -eq 6 ]
	# the parked bodies are the six invalid ones, byte for byte
	fa_sqs ReceiveMessage "{\"QueueUrl\":\"$DLQ_URL\",\"MaxNumberOfMessages\":10}" |
	    jq -r '.Messages[].Body' | sort >"$BATS_TEST_TMPDIR/parked"
	tail -n 6 "$SAMPLE" | sort | diff -u - "$BATS_TEST_TMPDIR/parked"
	# and the rejects are on record
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_rejects")" -eq 6 ]
}

@test "pipeline.sh -j 3: three pipelines share the queue; every valid message stored once" {
	fa_send "$QUEUE_URL" <"$SAMPLE"
	pg-load --create </dev/null
	run --separate-stderr ./pipeline.sh -j 3 --until-empty --wait-seconds 1 --visibility-timeout 30
	[ "$status" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "$VALID|$VALID" ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 6 ]
}

@test "pipeline.sh takes every stage option a pipeline can use, and hands each to its stages" {
	# every option each tool's --help defines, but for those that are
	# not a pipeline's: --reveal (another mode), --reject-body (set by
	# --dead-letter-queue), --prune-ledger (maintenance), --help, --version
	for t in sqs-recv pii-mask pg-load sqs-ack; do
		"$FA_TOP/bin/$t" --help | sed -nE 's/^ +(-[A-Za-z], )?(--[a-z-]+)( ([A-Z|a-z]+))?.*/\2 \4/p'
	done | sort -u | grep -vE '^--(reveal|reject-body|prune-ledger|help|version) ' >"$BATS_TEST_TMPDIR/opts"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/opts")" -ge 20 ]
	./pipeline.sh --help >"$BATS_TEST_TMPDIR/help"
	while read -r opt value; do
		grep -q -- "$opt" "$BATS_TEST_TMPDIR/help" || { echo "not in --help: $opt"; false; }
		./pipeline.sh "$opt" ${value:+x} --version >/dev/null || { echo "refused: $opt"; false; }
	done <"$BATS_TEST_TMPDIR/opts"
	# handed on: the stages get them (a bad value is the stage's to refuse)
	run ./pipeline.sh --until-empty --concurrency 0
	[ "$status" -eq 2 ]
	[[ "$output" == *"sqs-recv"*"--concurrency"* ]]
	run ./pipeline.sh --until-empty --mode nonsense
	[ "$status" -eq 2 ]
	[[ "$output" == *"pii-mask"* ]]
}

@test "pipeline.sh --stats and --metrics-file: one summary and one file per stage, and per pipeline with -j" {
	mkdir -p "$BATS_TEST_TMPDIR/m"
	./pipeline.sh --until-empty --wait-seconds 0 --create --stats \
	    --metrics-file "$BATS_TEST_TMPDIR/m/fa.prom" 2>"$BATS_TEST_TMPDIR/err"
	[ "$(grep -c '^{"tool":' "$BATS_TEST_TMPDIR/err")" -eq 4 ]
	ls "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/files"
	printf '%s\n' fa.pg-load.prom fa.pii-mask.prom fa.sqs-ack.prom fa.sqs-recv.prom |
	    diff -u - "$BATS_TEST_TMPDIR/files"
	rm -f "$BATS_TEST_TMPDIR/m"/*
	./pipeline.sh -j 2 --until-empty --wait-seconds 0 --metrics-file "$BATS_TEST_TMPDIR/m/fa.prom"
	[ "$(ls "$BATS_TEST_TMPDIR/m" | wc -l)" -eq 8 ]
	[ -f "$BATS_TEST_TMPDIR/m/fa.pg-load.2.prom" ]
	# what node_exporter's textfile collector reads: the files of the
	# two pipelines differ by their label, no series twice, all valid
	grep -q '^fetch_awards_read_lines_total{tool="pg-load",pipeline="2"} ' "$BATS_TEST_TMPDIR/m/fa.pg-load.2.prom"
	cat "$BATS_TEST_TMPDIR/m"/*.prom | grep -v '^#' | sed 's/ [^ ]*$//' | sort | uniq -d >"$BATS_TEST_TMPDIR/twice"
	[ ! -s "$BATS_TEST_TMPDIR/twice" ]
	for f in "$BATS_TEST_TMPDIR/m"/*.prom; do
		promtool check metrics <"$f"
	done
	# the user's own label goes to every stage beside the pipeline's
	rm -f "$BATS_TEST_TMPDIR/m"/*
	./pipeline.sh -j 2 --until-empty --wait-seconds 0 --metrics-label 'host=a"b' \
	    --metrics-file "$BATS_TEST_TMPDIR/m/fa.prom"
	[ "$(grep -l '{tool="[a-z-]*",host="a\\"b",pipeline="[12]"' "$BATS_TEST_TMPDIR/m"/*.prom | wc -l)" -eq 8 ]
}

@test "--metrics-label: a bad or repeated label name is a usage error" {
	for bad in tool=x le=1 =x x 1a=b __x=1 'a b=1'; do
		run pii-mask --metrics-label "$bad" </dev/null
		[ "$status" -eq 2 ]
		[[ "$output" == *"--metrics-label"* ]]
	done
	run pg-load --metrics-label a=1 --metrics-label a=2 </dev/null
	[ "$status" -eq 2 ]
	[[ "$output" == *"a given twice"* ]]
	run sqs-recv --metrics-label "a=$(printf 'x\ty')" </dev/null
	[ "$status" -eq 2 ]
}
