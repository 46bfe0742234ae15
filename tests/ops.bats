#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# Observability: --stats summaries and --metrics-file Prometheus metrics.

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	KEY=$BATS_TEST_TMPDIR/key
	cp "$BATS_TEST_DIRNAME/fixtures/test.key" "$KEY"
	chmod 600 "$KEY"
	FIX=$BATS_TEST_DIRNAME/fixtures/pii-mask
}

@test "pii-mask --stats: one JSON line on stderr with the counts and rejects by reason" {
	run --separate-stderr pii-mask -k "$KEY" --stats <"$FIX/envelopes.ndjson"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	total=$(wc -l <"$FIX/envelopes.ndjson")
	rows=$(grep -c '^{"row"' "$FIX/envelopes.expected")
	jq -e --argjson t "$total" --argjson r "$rows" \
	    '.tool == "pii-mask" and .lines == $t and .rows == $r and .rejected == $t - $r and .seconds >= 0' <<<"$stderr" >/dev/null
	# rejects by reason agree with the reject lines
	diff -u <(jq -r '.reject // empty' "$FIX/envelopes.expected" | sort | uniq -c | awk '{$1=$1; print}') \
	    <(jq -r '.rejects | to_entries[] | "\(.value) \(.key)"' <<<"$stderr" | sort -k2)
}

@test "pg-load --metrics-file: Prometheus counters and batch latency, written atomically" {
	createdb ops_metrics
	export PGDATABASE=ops_metrics
	pg-load --create </dev/null
	pii-mask -k "$KEY" <"$FIX/envelopes.ndjson" >"$BATS_TEST_TMPDIR/rows"
	m=$BATS_TEST_TMPDIR/metrics.prom
	pg-load --metrics-file "$m" --stats <"$BATS_TEST_TMPDIR/rows" >/dev/null 2>"$BATS_TEST_TMPDIR/err"
	rows=$(grep -c '^{"row"' "$BATS_TEST_TMPDIR/rows")
	grep -qx "fetch_awards_stored_rows_total{tool=\"pg-load\"} $rows" "$m"
	grep -qx "fetch_awards_committed_batches_total{tool=\"pg-load\"} 1" "$m"
	grep -q '^fetch_awards_batch_seconds_count{tool="pg-load"} 1$' "$m"
	grep -q '^# TYPE fetch_awards_stored_rows_total counter$' "$m"
	grep -q '^fetch_awards_rejects_total{tool="pg-load",reason="not JSON"} ' "$m"
	grep -qx 'fetch_awards_build_info{tool="pg-load",version="'"$(pg-load --version | awk '{print $3}')"'"} 1' "$m"
	grep -qx 'fetch_awards_service_up{tool="pg-load",service="postgresql"} 1' "$m"
	# one family per count: rejects only by reason
	run ! grep -E '^fetch_awards_(rejected|refused)' "$m"
	# every message with a sent time has its lag: the fixtures are
	# old, so all of them are in the last bucket and +Inf
	n=$(grep -c '"sent_timestamp":[0-9]' "$BATS_TEST_TMPDIR/rows")
	grep -qx "fetch_awards_commit_lag_seconds_count{tool=\"pg-load\"} $n" "$m"
	grep -qx "fetch_awards_commit_lag_seconds_bucket{tool=\"pg-load\",le=\"+Inf\"} $n" "$m"
	grep -qx 'fetch_awards_commit_lag_seconds_bucket{tool="pg-load",le="0.25"} 0' "$m"
	promtool check metrics <"$m"
	[ ! -e "$m.tmp" ]
	# a second run stores nothing new: all duplicates
	pg-load --metrics-file "$m" <"$BATS_TEST_TMPDIR/rows" >/dev/null 2>&1
	grep -qx "fetch_awards_duplicate_messages_total{tool=\"pg-load\"} $rows" "$m"
	grep -qx 'fetch_awards_stored_rows_total{tool="pg-load"} 0' "$m"
	tail -1 "$BATS_TEST_TMPDIR/err" | jq -e --argjson r "$rows" '.tool == "pg-load" and .stored == $r' >/dev/null
}

@test "sqs-recv and sqs-ack --stats count what they did" {
	fa_queue "ops-$RANDOM"
	seq 23 | fa_send "$QUEUE_URL"
	sqs-recv --until-empty --wait-seconds 0 --stats 2>"$BATS_TEST_TMPDIR/r" |
	    sqs-ack --stats 2>"$BATS_TEST_TMPDIR/a"
	jq -e '.tool == "sqs-recv" and .received == 23 and .receives >= 4 and .empty_receives == 1' "$BATS_TEST_TMPDIR/r" >/dev/null
	jq -e '.tool == "sqs-ack" and .deleted == 23 and .failed == 0 and .calls >= 3' "$BATS_TEST_TMPDIR/a" >/dev/null
}
