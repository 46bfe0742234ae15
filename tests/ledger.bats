#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# pg-load's ledger: keys as the primary key's arbiter between loaders, a
# COMMIT whose outcome is lost, pruning while loaders run, and the
# conversion of a 0.2 ledger.

bats_require_minimum_version 1.5.0

load services

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	PGDATABASE="ledger_${BATS_TEST_NUMBER}_$RANDOM"
	createdb "$PGDATABASE"
	export PGDATABASE
}

teardown() {
	[ -z "${PROXY_PID:-}" ] || kill "$PROXY_PID" 2>/dev/null || true
	[ -z "${HOLDER_PID:-}" ] || kill "$HOLDER_PID" 2>/dev/null || true
}

# row MESSAGE_ID SENT_MS [RECEIVE_COUNT]: a pii-mask row line.
row() {
	jq -cn --arg m "$1" --argjson t "$2" --argjson c "${3:-1}" \
	    '{row: {user_id: ("u-" + $m), device_type: "ios", masked_ip: "aa",
	    masked_device_id: "bb", locale: null, app_version: 1000,
	    create_date: "2024-01-01"}, message_id: $m, receipt_handle: ("rh-" + $m),
	    sent_timestamp: $t, receive_count: $c}'
}

# rows FIRST LAST [BASE_MS]: row lines m.FIRST .. m.LAST, a millisecond
# apart, sent at BASE_MS (default 1700000000000) + their number.
rows() {
	seq "$1" "$2" | awk -v base="${3:-1700000000000}" '{ printf "{\"row\":{\"user_id\":\"u%d\",\"device_type\":\"ios\",\"masked_ip\":null,\"masked_device_id\":null,\"locale\":null,\"app_version\":1000,\"create_date\":\"2024-01-01\"},\"message_id\":\"m.%d\",\"receipt_handle\":\"rh%d\",\"sent_timestamp\":%.0f,\"receive_count\":1}\n", $1, $1, $1, base + $1 }'
}

# sql_key ID MS: the ledger key of a message, computed by the server
# (ledger.h), to check the C code against.
sql_key() {
	echo "(lpad(to_hex($2::bigint), 12, '0') || substr(encode(sha256('$1'::bytea), 'hex'), 1, 20))::uuid"
}

@test "ledger: one key per stored message, as ledger.h lays it out" {
	{ row m1 1700000000123; row m2 1700000000999 3; } | pg-load --create >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 2 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger WHERE message_key IN
	    ($(sql_key m1 1700000000123), $(sql_key m2 1700000000999))")" -eq 2 ]
}

@test "ledger: a redelivery is found whether SQS counts it as a first receive or not" {
	rows 1 300 | pg-load --create --batch-rows 100 >/dev/null
	# receive_count 1 again (a saved file replayed): the primary key
	# refuses the keys, and each batch is redone looking them up.
	rows 1 300 | pg-load --batch-rows 100 >"$BATS_TEST_TMPDIR/acks"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 300 ]
	# receive_count 2, mixed with new messages: looked up first.
	{ rows 1 50 | sed 's/"receive_count":1/"receive_count":2/'; rows 301 350; } |
	    pg-load --batch-rows 100 >"$BATS_TEST_TMPDIR/acks2"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks2")" -eq 100 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "350|350" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 350 ]
}

@test "ledger: loaders wait only for the messages they share, not for each other's batches" {
	pg-load --create </dev/null
	# Another loader's transaction holds m.1's key, uncommitted.
	fa_psql -c "BEGIN; INSERT INTO user_logins_ledger VALUES ($(sql_key m.1 1700000000001));
	    SELECT pg_sleep(30); ROLLBACK" >/dev/null 2>&1 &
	HOLDER_PID=$!
	for _ in $(seq 50); do
		[ "$(fa_psql -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%'
		    AND state = 'active' AND pid <> pg_backend_pid()")" -eq 1 ] && break
		sleep 0.1
	done
	# A loader with m.1 among its messages waits for that transaction...
	rows 1 100 | pg-load >"$BATS_TEST_TMPDIR/a" &
	a=$!
	# ...while one with other messages stores them and finishes.
	rows 101 2000 | pg-load >"$BATS_TEST_TMPDIR/b"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/b")" -eq 1900 ]
	kill -0 "$a"			# still waiting
	[ ! -s "$BATS_TEST_TMPDIR/a" ]
	[ "$(fa_psql -c "SELECT count(*) FROM pg_locks WHERE NOT granted")" -ge 1 ]
	# The holder gives up: the waiting loader files m.1 and goes on.
	fa_psql -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	    WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
	wait "$a"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/a")" -eq 100 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "2000|2000" ]
}

@test "ledger: a COMMIT whose answer is lost is redone without storing anything twice" {
	pg-load --create </dev/null
	port=$(fa_free_port)
	fa_detached python3 "$BATS_TEST_DIRNAME/helpers/tcp-proxy.py" "$port" \
	    "127.0.0.1:$PGPORT" --cut-commit 2 2>"$BATS_TEST_TMPDIR/proxy" &
	PROXY_PID=$!
	for _ in $(seq 50); do
		fa_psql -h 127.0.0.1 -p "$port" -c "SELECT 1" >/dev/null 2>&1 && break
		sleep 0.1
	done
	rows 1 300 | PGPORT=$port pg-load --batch-rows 100 >"$BATS_TEST_TMPDIR/acks" \
	    2>"$BATS_TEST_TMPDIR/err"
	grep -q cut "$BATS_TEST_TMPDIR/proxy"
	# every message acknowledged once, stored once
	[ "$(jq -r .message_id "$BATS_TEST_TMPDIR/acks" | sort -u | wc -l)" -eq 300 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 300 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "300|300" ]
}

@test "ledger: --prune-ledger deletes entries older than DAYS, keeps the rest, while a loader runs" {
	now=$(($(date +%s) * 1000))
	day=86400000
	{ row old $((now - 20 * day)); row recent $((now - 1 * day)); } | pg-load --create >/dev/null
	jq -cn '{row: {user_id: "u-unknown", device_type: null, masked_ip: null,
	    masked_device_id: null, locale: null, app_version: null, create_date: null},
	    message_id: "unknown", receipt_handle: "rh", sent_timestamp: null}' | pg-load >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 3 ]
	# a loader at work the while
	rows 1 3000 $((now - 2 * day)) | pg-load --batch-rows 50 >"$BATS_TEST_TMPDIR/acks" &
	loader=$!
	run --separate-stderr pg-load --prune-ledger 15
	[ "$status" -eq 0 ]
	[[ $stderr == *"1 ledger entries older than 15 days deleted"* ]]
	wait "$loader"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 3000 ]
	# the recent and the undated stay filed: their redeliveries are not stored
	{ row recent $((now - 1 * day)) 2; jq -cn '{row: {user_id: "u-unknown"},
	    message_id: "unknown", receipt_handle: "rh", sent_timestamp: null}'; } | pg-load >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 3003 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 3002 ]
	run pg-load --prune-ledger 0
	[ "$status" -eq 2 ]
}

@test "ledger: pg-load --create converts a 0.2 ledger; its messages are still found" {
	fa_psql -c "CREATE TABLE user_logins_ledger (sent_second bigint NOT NULL,
	    message_ids text[] COLLATE \"C\" NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now());
	    INSERT INTO user_logins_ledger (sent_second, message_ids)
	    VALUES (1700000000, '{m1,m2}'), (1700000001, '{m3}'), (1700000001, '{m3}')" >/dev/null
	# without --create: a clear error, nothing stored
	run --separate-stderr pg-load < <(row m9 1700000000001)
	[ "$status" -eq 6 ]
	[[ $stderr == *"converts a 0.2 ledger"* ]]
	pg-load --create </dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 3 ]
	pg-load --create </dev/null	# a second time is harmless
	{ row m1 1700000000123 2; row m3 1700000001999 1; row m4 1700000001500 1; } |
	    pg-load >"$BATS_TEST_TMPDIR/acks"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 3 ]
	[ "$(fa_psql -c "SELECT string_agg(user_id, ',') FROM user_logins")" = "u-m4" ]
	# messages sent after the conversion get millisecond keys
	t5=$(($(date +%s) * 1000 + 5123))
	row m5 "$t5" | pg-load >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger
	    WHERE message_key = $(sql_key m5 "$t5")")" -eq 1 ]
}
