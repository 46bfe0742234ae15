#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# pg-load against a real PostgreSQL server: schema, exactly-once ledger,
# acknowledgements only after commit, rejects, and values stored as data.

bats_require_minimum_version 1.5.0

load services

teardown() {
	# a test that stops the server must not leave it stopped
	fa_pg_running || fa_pg_restart_stopped
}

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	PGDATABASE="load_${BATS_TEST_NUMBER}_$RANDOM"
	createdb "$PGDATABASE"
	export PGDATABASE
}

# row USER_ID [MESSAGE_ID [SENT_MS [LOCALE]]]: a pii-mask row line.
row() {
	jq -cn --arg u "$1" --arg m "${2:-}" --argjson t "${3:-1700000000000}" --arg l "${4:-RU}" \
	    '{row: {user_id: $u, device_type: "android",
	    masked_ip: "aa", masked_device_id: "bb", locale: $l, app_version: 2003000,
	    create_date: "2024-02-29"}, message_id: (if $m == "" then null else $m end),
	    receipt_handle: (if $m == "" then null else "rh-" + $m end), sent_timestamp: $t}'
}

# rows N: N row lines u1/m1 .. uN/mN, sent over N/10 seconds.
rows() {
	seq "$1" | awk '{ printf "{\"row\":{\"user_id\":\"u%d\",\"device_type\":\"ios\",\"masked_ip\":null,\"masked_device_id\":null,\"locale\":null,\"app_version\":1000,\"create_date\":\"2024-01-01\"},\"message_id\":\"m%d\",\"receipt_handle\":\"rh%d\",\"sent_timestamp\":%.0f,\"receive_count\":1}\n", $1, $1, $1, 1700000000000 + $1 * 100 }'
}

@test "pg-load --create makes user_logins exactly as specified, and the ledger" {
	pg-load --create </dev/null
	fa_psql -c "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns
	    WHERE table_name = 'user_logins' ORDER BY ordinal_position" >"$BATS_TEST_TMPDIR/cols"
	cat >"$BATS_TEST_TMPDIR/want" <<-'WANT'
	user_id|character varying|128
	device_type|character varying|32
	masked_ip|character varying|256
	masked_device_id|character varying|256
	locale|character varying|32
	app_version|integer|
	create_date|date|
	WANT
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/cols"
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 0 ]
	pg-load --create </dev/null	# a second time is harmless
}

@test "pg-load: rows stored exactly, one acknowledgement per row with a receipt handle" {
	{ row u1 m1; row u2 m2; row u3; } >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pg-load --create <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' '{"message_id":"m1","receipt_handle":"rh-m1"}' '{"message_id":"m2","receipt_handle":"rh-m2"}')" ]
	fa_psql -c "SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
	    FROM user_logins ORDER BY user_id" >"$BATS_TEST_TMPDIR/rows"
	printf '%s\n' "u1|android|aa|bb|RU|2003000|2024-02-29" "u2|android|aa|bb|RU|2003000|2024-02-29" \
	    "u3|android|aa|bb|RU|2003000|2024-02-29" | diff -u - "$BATS_TEST_TMPDIR/rows"
}

@test "pg-load: nulls stay NULL" {
	echo '{"row":{"user_id":"n","device_type":null,"masked_ip":null,"masked_device_id":null,"locale":null,"app_version":null,"create_date":"2024-01-01"},"message_id":"m","receipt_handle":"r"}' |
	    pg-load --create >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins WHERE device_type IS NULL AND masked_ip IS NULL
	    AND masked_device_id IS NULL AND locale IS NULL AND app_version IS NULL")" -eq 1 ]
}

@test "pg-load: a redelivered message is stored once but acknowledged every time" {
	{ row u1 m1; row u2 m2; } | pg-load --create >/dev/null
	{ row u1 m1; row u3 m3; } | pg-load >"$BATS_TEST_TMPDIR/acks"
	[ "$(jq -r .message_id "$BATS_TEST_TMPDIR/acks" | sort | paste -sd,)" = "m1,m3" ]
	[ "$(fa_psql -c "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM user_logins")" = "u1,u2,u3" ]
}

@test "pg-load: the same message twice in one batch is one row, two acknowledgements" {
	{ row u1 m1; row u1 m1; } | pg-load --create >"$BATS_TEST_TMPDIR/acks"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 2 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 1 ]
}

@test "pg-load: identical rows of different messages are two logins, two rows" {
	{ row same m1; row same m2; row same; row same; } | pg-load --create >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins WHERE user_id = 'same'")" -eq 4 ]
}

@test "pg-load: rows across many batches each land once" {
	for i in $(seq 250); do row "u$i" "m$i"; done >"$BATS_TEST_TMPDIR/in"
	pg-load --create --batch-rows 7 <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/acks"
	pg-load --batch-rows 7 <"$BATS_TEST_TMPDIR/in" >>"$BATS_TEST_TMPDIR/acks"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 500 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "250|250" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 250 ]
}

@test "pg-load: reject lines are logged, recorded, passed on, not stored, not acknowledged" {
	{ row u1 m1; echo '{"reject":"user_id: missing","message_id":"m2","receipt_handle":"rh-m2","sent_timestamp":1700000000000,"receive_count":3}'; } >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pg-load --create <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' '{"message_id":"m1","receipt_handle":"rh-m1"}' \
	    '{"reject":"user_id: missing","message_id":"m2","receipt_handle":"rh-m2","sent_timestamp":1700000000000,"receive_count":3}')" ]
	[[ "$stderr" == *'message "m2" rejected: "user_id: missing"'* ]]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 1 ]
	[ "$(fa_psql -c "SELECT message_id, reason, receive_count FROM user_logins_rejects")" = "m2|user_id: missing|3" ]
}

@test "pg-load: unusable lines become rejects: logged, recorded, passed on, counted; exit 1, the rest stored" {
	{
		row good1 m1
		echo 'not json'
		echo '{"row":{"user_id":""},"message_id":"x","receipt_handle":"y"}'
		echo '{"row":{"user_id":"d","create_date":"2023-02-30"},"message_id":"z","receipt_handle":"w"}'
		echo '{"row":{"user_id":"v","app_version":"1.2"},"message_id":"v","receipt_handle":"v"}'
		echo '{"row":{"user_id":"n"},"message_id":"neg","receipt_handle":"rn","sent_timestamp":-1000,"receive_count":-3}'
		echo '{"reject":"x","message_id":"r","receipt_handle":"rr","receive_count":"2"}'
		row good2 m2
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pg-load --create --stats <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	# two acknowledgements, six rejects passed on, in the pii-mask form
	[ "$(printf '%s\n' "${lines[@]}" | jq -r 'select(.reject == null) | .message_id' | paste -sd,)" = "m1,m2" ]
	printf '%s\n' "${lines[@]}" | jq -c 'select(.reject) | [.reject, .message_id, .receipt_handle]' |
	    sort >"$BATS_TEST_TMPDIR/rejects"
	sort >"$BATS_TEST_TMPDIR/want" <<-'WANT'
	["not JSON",null,null]
	["row.user_id: not a string of 1 to 128 characters","x","y"]
	["row.create_date: not null or a date YYYY-MM-DD","z","w"]
	["row.app_version: not null or a 32-bit integer","v","v"]
	["sent_timestamp: not an integer from 0 to 253402300799999 (ms) or null","neg","rn"]
	["receive_count: not an integer from 0 to 2147483647 or null","r","rr"]
	WANT
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/rejects"
	[[ "$stderr" == *'line 2: message null not usable: "not JSON"'* ]]
	[[ "$stderr" == *'line 5: message "v" not usable: "row.app_version: not null or a 32-bit integer"'* ]]
	# recorded where there is a message id, and counted
	[ "$(fa_psql -c "SELECT string_agg(message_id, ',' ORDER BY message_id) FROM user_logins_rejects")" = "neg,r,v,x,z" ]
	[ "$(printf '%s\n' "$stderr" | tail -1 | jq .rejected)" -eq 6 ]
	[ "$(fa_psql -c "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM user_logins")" = "good1,good2" ]
}

@test "pg-load: an envelope with a negative sent_timestamp is rejected end to end, recorded, never silently skipped" {
	key=$BATS_TEST_TMPDIR/key
	fa_key "$key"
	printf '%s\n' \
	    '{"message_id":"neg1","receipt_handle":"rh1","body":"{\"user_id\":\"u\"}","sent_timestamp":-1000,"receive_count":1}' \
	    '{"message_id":"ok1","receipt_handle":"rh2","body":"{\"user_id\":\"u\"}","sent_timestamp":1700000000000,"receive_count":1}' |
	    pii-mask -k "$key" | pg-load --create >"$BATS_TEST_TMPDIR/out"
	[ "$(jq -r 'select(.reject == null) | .message_id' "$BATS_TEST_TMPDIR/out")" = ok1 ]
	[ "$(jq -r 'select(.reject) | .message_id' "$BATS_TEST_TMPDIR/out")" = neg1 ]
	[ "$(fa_psql -c "SELECT message_id, reason FROM user_logins_rejects")" = \
	    "neg1|sent_timestamp: not an integer from 0 to 253402300799999 (ms) or null" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 1 ]
}

@test "pg-load: SQL and COPY metacharacters are stored as data" {
	nasty="Robert'); DROP TABLE user_logins;-- \\N	tab \\. \$\$ \"q\""
	jq -cn --arg u "$nasty" '{row: {user_id: $u, device_type: "a\nb\\c", create_date: "2024-01-01"}, message_id: "m", receipt_handle: "r"}' |
	    pg-load --create >/dev/null
	[ "$(fa_psql -c "SELECT user_id FROM user_logins")" = "$nasty" ]
	[ "$(fa_psql -c "SELECT device_type = E'a\\nb\\\\c' FROM user_logins")" = t ]
}

@test "pg-load: a database error exits 6 and acknowledges nothing" {
	run --separate-stderr pg-load <<<"$(row u1 m1)"	# no --create: no table
	[ "$status" -eq 6 ]
	[ -z "$output" ]
	[[ "$stderr" == *'relation "user_logins'*'" does not exist'* ]]
	# nothing listens: waited for as long as --retry-seconds says
	run --separate-stderr pg-load --retry-seconds 1 \
	    --dbname "host=127.0.0.1 port=$(fa_free_port) connect_timeout=2" </dev/null
	[ "$status" -eq 6 ]
	[[ "$stderr" == *"connecting to PostgreSQL"* ]]
}

@test "pg-load: a partial batch is committed and acknowledged after --flush-ms, before input ends" {
	pg-load --create </dev/null
	mkfifo "$BATS_TEST_TMPDIR/in"
	pg-load --flush-ms 100 <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/acks" &
	pid=$!
	exec {w}>"$BATS_TEST_TMPDIR/in"
	row u1 m1 >&"$w"
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/acks" ] && break
		sleep 0.1
	done
	# the writer is still open: the ack came from the idle flush
	[ "$(cat "$BATS_TEST_TMPDIR/acks")" = '{"message_id":"m1","receipt_handle":"rh-m1"}' ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 1 ]
	exec {w}>&-
	wait "$pid"
}

@test "pg-load: --help to stdout exit 0, misuse exit 2" {
	run --separate-stderr pg-load --help
	[ "$status" -eq 0 ]; [[ "$output" == usage:* ]]
	run --separate-stderr pg-load --batch-rows 0
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--batch-rows"* ]]
}

@test "pg-load: concurrent loaders over overlapping input store every message exactly once" {
	pg-load --create </dev/null
	rows 3000 >"$BATS_TEST_TMPDIR/all"
	# four loaders, each with every message, in its own order, in small batches
	for k in 1 2 3 4; do
		shuf --random-source=<(yes "$k") "$BATS_TEST_TMPDIR/all" |
		    pg-load --batch-rows 40 >"$BATS_TEST_TMPDIR/acks$k" &
	done
	wait
	for k in 1 2 3 4; do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/acks$k")" -eq 3000 ]
	done
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "3000|3000" ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_ledger")" -eq 3000 ]
	# and GNU parallel --pipe -j4 over input holding every message twice
	fa_psql -c "TRUNCATE user_logins, user_logins_ledger"
	cat "$BATS_TEST_TMPDIR/all" "$BATS_TEST_TMPDIR/all" | shuf --random-source=<(yes x) |
	    parallel --will-cite --pipe -j 4 --block 50k pg-load --batch-rows 100 >"$BATS_TEST_TMPDIR/packs"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/packs")" -eq 6000 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "3000|3000" ]
}

@test "pg-load: rows a DBA's constraint or trigger refuses are isolated; the rest of the batch is stored" {
	pg-load --create </dev/null
	fa_psql <<-'SQL'
	ALTER TABLE user_logins ADD CONSTRAINT no_xx CHECK (locale IS DISTINCT FROM 'XX');
	CREATE FUNCTION no_boom() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.user_id LIKE 'boom%' THEN
			RAISE EXCEPTION 'refusing %', NEW.user_id;
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER no_boom BEFORE INSERT ON user_logins FOR EACH ROW EXECUTE FUNCTION no_boom();
	SQL
	for i in $(seq 100); do
		case $i in
		10|77) row "u$i" "m$i" 1700000000000 XX ;;
		50) row "boom-secret-$i" "m$i" ;;
		*) row "u$i" "m$i" ;;
		esac
	done >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pg-load --batch-rows 1000 <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 97 ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.reject == null) | .message_id' | wc -l)" -eq 97 ]
	printf '%s\n' "$output" | jq -r 'select(.reject) | [.message_id, .reject] | @tsv' | sort >"$BATS_TEST_TMPDIR/rejects"
	cat >"$BATS_TEST_TMPDIR/want" <<-'WANT'
	m10	server: check constraint violated (SQLSTATE 23514), constraint no_xx
	m50	server: raised by a trigger (SQLSTATE P0001)
	m77	server: check constraint violated (SQLSTATE 23514), constraint no_xx
	WANT
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/rejects"
	[ "$(fa_psql -c "SELECT string_agg(message_id, ',' ORDER BY message_id) FROM user_logins_rejects")" = "m10,m50,m77" ]
	# the trigger's message quotes the value; no reason or log does
	[[ "$output$stderr" != *boom-secret* ]]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins_rejects WHERE reason LIKE '%boom%'")" -eq 0 ]
}

@test "pg-load: the rejects table keeps first_seen and follows receive_count and last_seen" {
	pg-load --create </dev/null
	echo '{"reject":"not JSON","message_id":"r1","receipt_handle":"h","sent_timestamp":1,"receive_count":1}' | pg-load >/dev/null
	first=$(fa_psql -c "SELECT first_seen FROM user_logins_rejects")
	sleep 0.05
	echo '{"reject":"not JSON","message_id":"r1","receipt_handle":"h2","sent_timestamp":1,"receive_count":2}' | pg-load >/dev/null
	[ "$(fa_psql -c "SELECT count(*), max(receive_count) FROM user_logins_rejects")" = "1|2" ]
	[ "$(fa_psql -c "SELECT first_seen FROM user_logins_rejects")" = "$first" ]
	[ "$(fa_psql -c "SELECT last_seen > first_seen FROM user_logins_rejects")" = t ]
}

@test "pg-load: a PostgreSQL restart mid-load is waited out; every row lands once" {
	pg-load --create </dev/null
	rows 300 >"$BATS_TEST_TMPDIR/all"
	mkfifo "$BATS_TEST_TMPDIR/in"
	pg-load --flush-ms 50 --retry-seconds 60 <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/acks" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec {w}>"$BATS_TEST_TMPDIR/in"
	head -100 "$BATS_TEST_TMPDIR/all" >&"$w"
	for _ in $(seq 100); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -ge 100 ] && break
		sleep 0.1
	done
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 100 ]
	fa_pg_stop
	sed -n 101,200p "$BATS_TEST_TMPDIR/all" >&"$w"
	sleep 1.5	# pg-load is retrying now
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 100 ]	# nothing acknowledged meanwhile
	fa_pg_restart_stopped {w}>&-	# the server must not hold our pipe open
	sed -n 201,300p "$BATS_TEST_TMPDIR/all" >&"$w"
	exec {w}>&-
	wait "$pid"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 300 ]
	[ "$(fa_psql -c "SELECT count(*), count(DISTINCT user_id) FROM user_logins")" = "300|300" ]
}

@test "pg-load: with the server gone for good it gives up after --retry-seconds, acknowledging nothing" {
	pg-load --create </dev/null
	mkfifo "$BATS_TEST_TMPDIR/in"
	pg-load --retry-seconds 2 <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/acks" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec {w}>"$BATS_TEST_TMPDIR/in"
	rows 10 >"$BATS_TEST_TMPDIR/all"
	head -1 "$BATS_TEST_TMPDIR/all" >&"$w"	# stored while the server is up
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/acks" ] && break
		sleep 0.1
	done
	fa_pg_stop
	tail -n +2 "$BATS_TEST_TMPDIR/all" >&"$w"
	exec {w}>&-	# (closed before the server starts again, below)
	status=0
	wait "$pid" || status=$?
	fa_pg_restart_stopped
	[ "$status" -eq 6 ]
	[ "$(cat "$BATS_TEST_TMPDIR/acks")" = '{"message_id":"m1","receipt_handle":"rh1"}' ]
	grep -Eq "gave up after [0-9]+ attempts in [2-5] s" "$BATS_TEST_TMPDIR/err"
	grep -q "batch of 9 lines not stored, none acknowledged" "$BATS_TEST_TMPDIR/err"
	[ "$(fa_psql -c "SELECT string_agg(user_id, ',') FROM user_logins")" = u1 ]
}

@test "pg-load: memory stays bounded by the batch, whatever the input size" {
	pg-load --create </dev/null
	rows 200000 >"$BATS_TEST_TMPDIR/all"
	/usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" pg-load <"$BATS_TEST_TMPDIR/all" >/dev/null
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 200000 ]
	echo "peak RSS $(cat "$BATS_TEST_TMPDIR/rss") KiB"
	# (AddressSanitizer's shadow memory and quarantine are not ours)
	[ -n "${FA_SANITIZED:-}" ] || [ "$(cat "$BATS_TEST_TMPDIR/rss")" -lt 32768 ]
}

@test "pg-load: a server not yet up at start is waited for; one that refuses us fails at once" {
	pg-load --create </dev/null
	fa_pg_stop
	rows 30 | pg-load --retry-seconds 60 >"$BATS_TEST_TMPDIR/acks" &
	pid=$!
	sleep 2
	kill -0 "$pid"		# still waiting for the server
	fa_pg_restart_stopped
	wait "$pid"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acks")" -eq 30 ]
	[ "$(fa_psql -c "SELECT count(*) FROM user_logins")" -eq 30 ]
	# a database that does not exist will not come: no waiting
	run --separate-stderr timeout 20 pg-load --retry-seconds 60 --dbname "dbname=no_such_db_$RANDOM" </dev/null
	[ "$status" -eq 6 ]
	[[ "$stderr" == *"does not exist"* ]]
}
