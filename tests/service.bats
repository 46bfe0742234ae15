#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# Running as a service: SIGTERM and SIGINT drain each stage and the
# pipeline (as PID 1 of its own PID namespace, as in a container), a
# second signal ends at once, and pg-load shows by name on the server.

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	PGDATABASE="svc_${BATS_TEST_NUMBER}_$RANDOM"
	createdb "$PGDATABASE"
	export PGDATABASE
	KEY=$BATS_TEST_TMPDIR/key
	fa_key "$KEY"
	export PII_MASK_KEY_FILE=$KEY
}

teardown() {
	exec 7>&- || true
	# a test that stops the server must not leave it stopped
	fa_pg_running || fa_pg_restart_stopped
}

# rows FIRST LAST: row lines m.FIRST .. m.LAST.
rows() {
	seq "$1" "$2" | awk '{ printf "{\"row\":{\"user_id\":\"u%d\",\"device_type\":\"ios\",\"masked_ip\":null,\"masked_device_id\":null,\"locale\":null,\"app_version\":1000,\"create_date\":\"2024-01-01\"},\"message_id\":\"m.%d\",\"receipt_handle\":\"rh%d\",\"sent_timestamp\":%.0f,\"receive_count\":1}\n", $1, $1, $1, 1700000000000 + $1 }'
}

@test "pg-load: SIGTERM stops reading, stores and acknowledges the batch it holds, exits 0" {
	pg-load --create </dev/null
	mkfifo "$BATS_TEST_TMPDIR/in"
	# a batch that would wait a minute before its commit
	pg-load --flush-ms 60000 <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/acks" 3>&- &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
	rows 1 50 >&7
	for _ in $(seq 100); do	# connected, and so reading
		[ "$(fa_psql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg-load'
		    AND datname = current_database()")" -eq 3 ] && break
		sleep 0.1
	done
	sleep 1
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 0 ]
	kill -TERM "$pid"
	wait "$pid"	# status 0, though its input is still open
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 50 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 50 ]
}

@test "pg-load shows as pg-load in pg_stat_activity, unless the user names it" {
	pg-load --create </dev/null
	mkfifo "$BATS_TEST_TMPDIR/in"
	pg-load <"$BATS_TEST_TMPDIR/in" >/dev/null 3>&- &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
	for _ in $(seq 50); do
		n=$(fa_psql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg-load'
		    AND datname = current_database()")
		[ "$n" -ge 3 ] && break	# one per --connections
		sleep 0.1
	done
	[ "$n" -eq 3 ]
	exec 7>&-
	wait "$pid"
	PGAPPNAME=loader-7 pg-load -C 1 < <(sleep 30) >/dev/null 3>&- &
	pid=$!
	for _ in $(seq 100); do
		n=$(fa_psql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loader-7'")
		[ "$n" -eq 1 ] && break
		sleep 0.1
	done
	[ "$n" -eq 1 ]
	kill -TERM "$pid"
	wait "$pid"
}

@test "pg-load: a second SIGTERM ends it at once, storing and acknowledging nothing more" {
	pg-load --create </dev/null
	mkfifo "$BATS_TEST_TMPDIR/in"
	pg-load --flush-ms 60000 --retry-seconds 600 <"$BATS_TEST_TMPDIR/in" \
	    >"$BATS_TEST_TMPDIR/acks" 2>/dev/null 3>&- &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
	for _ in $(seq 100); do	# connected, and so reading
		[ "$(fa_psql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg-load'
		    AND datname = current_database()")" -eq 3 ] && break
		sleep 0.1
	done
	rows 1 20 >&7
	sleep 2
	fa_pg_stop		# the commit will retry for ten minutes
	kill -TERM "$pid"
	sleep 1
	kill -0 "$pid"		# draining: waiting for the server
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]	# ended by the signal
	[ ! -s "$BATS_TEST_TMPDIR/acks" ]
	fa_pg_restart_stopped
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 0 ]
}

@test "pii-mask: SIGTERM writes what it has read and exits 0" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	pii-mask <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
	printf '{"user_id":"u%d"}\n' 1 2 3 >&7
	for _ in $(seq 100); do	# written as soon as it would wait
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 3 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid"
	[ "$(jq -r .row.user_id "$BATS_TEST_TMPDIR/out" | paste -sd,)" = "u1,u2,u3" ]
}

@test "pipeline.sh as PID 1 of its own PID namespace: SIGTERM drains every stage; a later drain stores each message once" {
	unshare --pid --fork --mount-proc true 2>/dev/null || skip "no PID namespaces here"
	fa_queue "svc-$RANDOM" 5
	for _ in $(seq 10); do
		head -n 24 "$BATS_TEST_DIRNAME/fixtures/sample-logins.ndjson"
	done | fa_send "$QUEUE_URL"	# 240 valid messages
	pg-load --create </dev/null
	# continuous, with a 20-second long poll to abandon
	unshare --pid --fork --mount-proc "$FA_TOP/pipeline.sh" --wait-seconds 20 \
	    --visibility-timeout 3 --batch-rows 50 --flush-ms 100 \
	    >/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	outer=$!
	for _ in $(seq 100); do
		[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -ge 100 ] && break
		sleep 0.1
	done
	pid1=$(pgrep -P "$outer")
	[ "$(awk '/^NSpid/ { print $NF }' "/proc/$pid1/status")" = 1 ]	# PID 1 inside
	t0=$(date +%s)
	kill -TERM "$pid1"
	status=0
	wait "$outer" || status=$?
	cat "$BATS_TEST_TMPDIR/err" >&2
	[ "$status" -eq 0 ]
	# it abandoned the long poll rather than waiting it out
	[ $(($(date +%s) - t0)) -lt 15 ]
	run ! pgrep -f "$FA_TOP/bin/(sqs-recv|pii-mask|pg-load|sqs-ack)"
	# every committed row's message was deleted
	stored=$(fa_psql -c "SELECT count(*) FROM user_logins")
	[ "$(fa_queue_count "$QUEUE_URL")" -eq $((240 - stored)) ]
	# the rest comes back after its visibility timeout, and is stored once
	sleep 3.5
	"$FA_TOP/pipeline.sh" --until-empty --wait-seconds 1 >/dev/null
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT message_key) FROM user_logins_ledger")" = "240|240" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 240 ]
	[ "$(fa_queue_count "$QUEUE_URL")" -eq 0 ]
}

@test "--health-file and --metrics-file: an idle tool touches one every second and rewrites the other on its timer" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	pii-mask --health-file "$BATS_TEST_TMPDIR/health" --metrics-file "$BATS_TEST_TMPDIR/m.prom" \
	    <"$BATS_TEST_TMPDIR/in" >/dev/null 3>&- &
	pid=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
	for _ in $(seq 30); do [ -f "$BATS_TEST_TMPDIR/m.prom" ] && break; sleep 0.1; done
	# the metrics file is there at once, with nothing done
	grep -q '^fetch_awards_read_lines_total{tool="pii-mask"} 0$' "$BATS_TEST_TMPDIR/m.prom"
	h1=$(stat -c %Y.%y "$BATS_TEST_TMPDIR/health")
	m1=$(stat -c %y "$BATS_TEST_TMPDIR/m.prom")
	sleep 2.5
	# idle, and alive: the health file was touched again
	[ "$(stat -c %Y.%y "$BATS_TEST_TMPDIR/health")" != "$h1" ]
	printf '{"user_id":"u"}\n' >&7
	sleep 9.5
	# and the metrics rewritten on the timer, with the line counted
	[ "$(stat -c %y "$BATS_TEST_TMPDIR/m.prom")" != "$m1" ]
	grep -q '^fetch_awards_read_lines_total{tool="pii-mask"} 1$' "$BATS_TEST_TMPDIR/m.prom"
	kill -TERM "$pid"
	wait "$pid"
}

@test "a failing tool still leaves its final metrics and its --stats line" {
	run --separate-stderr pg-load --stats --metrics-file "$BATS_TEST_TMPDIR/pg.prom" \
	    --dbname "host=127.0.0.1 port=1 connect_timeout=2" --retry-seconds 1 </dev/null
	[ "$status" -eq 6 ]
	[ -f "$BATS_TEST_TMPDIR/pg.prom" ]
	printf '%s\n' "$stderr" | grep '^{"tool":"pg-load"' | jq -e '.lines == 0'
	fa_queue "gone-$RANDOM"
	run --separate-stderr sqs-recv --stats --metrics-file "$BATS_TEST_TMPDIR/r.prom" \
	    --queue-url "${QUEUE_URL}-nonexistent" --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	[ -f "$BATS_TEST_TMPDIR/r.prom" ]
	printf '%s\n' "$stderr" | grep -q '^{"tool":"sqs-recv"'
	# a key that is missing: a configuration error, its metrics left
	run --separate-stderr env -u PII_MASK_KEY_FILE pii-mask --stats \
	    --metrics-file "$BATS_TEST_TMPDIR/m.prom" </dev/null
	[ "$status" -eq 3 ]
	grep -qx 'fetch_awards_read_lines_total{tool="pii-mask"} 0' "$BATS_TEST_TMPDIR/m.prom"
	printf '%s\n' "$stderr" | grep -q '^{"tool":"pii-mask"'
}
