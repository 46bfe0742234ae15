#!/usr/bin/env bash
# bench/pg-load.sh - pg-load (exactly-once on) against psql's \copy of the
# same rows into a plain user_logins, on the patterns that decide a
# ledger's cost: messages sent 1,000 and 100,000 a second, read in the
# order sent (a live queue), and a backlog drained in random order with
# 5% redeliveries mixed in; each at 200k and 800k rows.  Then two loaders
# on disjoint halves against one loader doing both, and one INSERT per
# row with autocommit.  All on one throwaway server.
set -eu
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=tests/lib.bash
. tests/lib.bash
SIZES=${BENCH_LOAD_SIZES:-200000 800000}
INSERTS=${BENCH_INSERTS:-5000}
work=$(mktemp -d)
trap 'fa_services_down; rm -rf "$work" "$BENCH_TIME_OUT"' EXIT
[ -n "${FA_SERVICES:-}" ] || fa_pg_start
FA_SERVICES=$$
createdb bench_load
export PGDATABASE=bench_load
(umask 077 && openssl rand -hex 32 >"$work/key")
bin/pg-load --create </dev/null
fa_psql -c "CREATE TABLE plain (LIKE user_logins)"

# rows NAME N GEN-OPTIONS...: pii-mask's lines in $work/NAME, and the
# same rows as CSV for \copy in $work/NAME.csv.
rows() {
	local name=$1 n=$2
	shift 2
	python3 bench/gen-logins.py "$n" "$@" | bin/pii-mask -k "$work/key" >"$work/$name"
	python3 -c '
import csv, json, sys
w = csv.writer(sys.stdout)
for line in sys.stdin:
    r = json.loads(line)["row"]
    w.writerow([r[k] for k in ("user_id", "device_type", "masked_ip",
                "masked_device_id", "locale", "app_version", "create_date")])
' <"$work/$name" >"$work/$name.csv"
}

copy_once() {
	fa_psql -c "TRUNCATE plain; CHECKPOINT"
	best_seconds 1 /dev/null psql -X -q -c "\\copy plain FROM '$1' CSV"
}
load_once() {
	fa_psql -c "TRUNCATE user_logins, user_logins_ledger; CHECKPOINT"
	best_seconds 1 "$1" bin/pg-load
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? a : b }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Alternate the two, five times each, and keep the best of each: this
# machine is shared, and the best run is the one least disturbed.
# Prints "copy-seconds load-seconds".
versus() {
	local copy=999 load=999
	for _ in 1 2 3 4 5; do
		copy=$(min "$(copy_once "$1.csv")" "$copy")
		load=$(min "$(load_once "$1")" "$load")
	done
	echo "$copy $load"
}

for n in $SIZES; do
	for p in "1k-send:--rate 1000 --order send" \
	    "100k-send:--rate 100000 --order send" \
	    "1k-random:--rate 1000 --order random --redeliver 0.05"; do
		name=${p%%:*}
		# shellcheck disable=SC2086 # the generator's options, split
		rows "$name-$n" "$n" ${p#*:}
		read -r copy load <<<"$(versus "$work/$name-$n")"
		result "pg-load, $n rows, $name (rows/s)" "$(rate "$n" "$load")" \
		    "$(rate "$n" "$copy") (psql \\copy)" "$(ratio "$copy" "$load")" ">= 0.75"
		[ "$name" = 1k-random ] && echo "$n $(rate "$n" "$load")" >>"$work/flat"
	done
done
if [ "$(wc -l <"$work/flat")" -ge 2 ]; then
	read -r n1 r1 <<<"$(head -1 "$work/flat")"
	read -r n2 r2 <<<"$(tail -1 "$work/flat")"
	result "pg-load, 1k-random: rate at $n2 rows / at $n1 rows" "$r2" "$r1" \
	    "$(ratio "$r2" "$r1")" ">= 0.90"
fi

# The floor of any design that files one key per message under a unique
# index (what exactly-once across loaders needs), on one connection: psql
# \copy of the rows, then \copy of their keys into such an index, with no
# pg-load at all.  pg-load cannot beat copy / (copy + keys) by much.
for p in 1k-send 1k-random; do
	n=${SIZES##* }
	python3 -c '
import hashlib, json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("receive_count") == 1:
        k = "%012x" % m["sent_timestamp"] + hashlib.sha256(m["message_id"].encode()).hexdigest()[:20]
        print(k)
' <"$work/$p-$n" >"$work/keys"
	fa_psql -c "DROP TABLE IF EXISTS floor_keys; CREATE TABLE floor_keys (k uuid PRIMARY KEY)"
	copy=999 both=999
	for _ in 1 2 3; do
		copy=$(min "$(copy_once "$work/$p-$n.csv")" "$copy")
		fa_psql -c "TRUNCATE plain, floor_keys; CHECKPOINT"
		t=$(best_seconds 1 /dev/null psql -X -q -c "\\copy plain FROM '$work/$p-$n.csv' CSV" \
		    -c "\\copy floor_keys FROM '$work/keys'")
		both=$(min "$t" "$both")
	done
	result "floor: \\copy rows + their keys under a unique index, $n rows, $p (rows/s)" \
	    "$(rate "$n" "$both")" "$(rate "$n" "$copy") (psql \\copy)" "$(ratio "$copy" "$both")" "-"
	rm -f "$work/keys"
done

# Scale-out: two loaders, each with half the messages (split by message
# id, so that every delivery of a message goes to one of them), against
# one loader doing both; one connection each, so that what is measured
# is whether loaders wait for each other, not pg-load's own parallelism.
n=${SIZES%% *}
python3 -c '
import json, sys, zlib
halves = [open(sys.argv[2] + c, "w") for c in "ab"]
for line in open(sys.argv[1]):
    halves[zlib.crc32(json.loads(line)["message_id"].encode()) & 1].write(line)
' "$work/1k-random-$n" "$work/half."
fa_psql -c "TRUNCATE user_logins, user_logins_ledger; CHECKPOINT"
one=$(best_seconds 1 "$work/1k-random-$n" bin/pg-load --connections 1)
fa_psql -c "TRUNCATE user_logins, user_logins_ledger; CHECKPOINT"
# shellcheck disable=SC2016 # expanded by the inner shell
/usr/bin/time -f %e -o "$BENCH_TIME_OUT" bash -c \
    'bin/pg-load -C 1 <"$1" >/dev/null & bin/pg-load -C 1 <"$2" >/dev/null; wait' _ \
    "$work/half.a" "$work/half.b"
two=$(tail -1 "$BENCH_TIME_OUT")
result "two loaders on disjoint halves, one connection each, $n rows, 1k-random (rows/s)" \
    "$(rate "$n" "$two")" "$(rate "$n" "$one") (one loader)" "$(ratio "$one" "$two")" "> 1"

# Everything already stored: a replay.
redo=$(best_seconds 1 "$work/1k-random-$n" bin/pg-load)
result "pg-load, $n redelivered rows (rows/s)" "$(rate "$n" "$redo")" "-" "-" "-"

# One INSERT per row, autocommit.
head -n "$INSERTS" "$work/1k-send-$n" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)["row"]
    v = [r[k] for k in ("user_id", "device_type", "masked_ip", "masked_device_id",
                        "locale", "app_version", "create_date")]
    print("INSERT INTO plain VALUES (%s);" % ", ".join(
        "NULL" if x is None else str(x) if isinstance(x, int) else "'"'"'%s'"'"'" % x for x in v))
' >"$work/inserts.sql"
fa_psql -c "TRUNCATE plain"
inserts=$(best_seconds 1 "$work/inserts.sql" psql -X -q)
fa_psql -c "TRUNCATE user_logins, user_logins_ledger; CHECKPOINT"
load=$(best_seconds 1 "$work/1k-send-$n" bin/pg-load)
result "pg-load vs one INSERT per row (rows/s)" "$(rate "$n" "$load")" \
    "$(rate "$INSERTS" "$inserts") (INSERT, autocommit)" \
    "$(awk -v a="$(rate "$n" "$load")" -v b="$(rate "$INSERTS" "$inserts")" 'BEGIN { printf "%.0fx", a / b }')" ">= 50x"

# The ledger's size per million messages.
result "ledger size per million messages (MiB)" "$(fa_psql -c "SELECT round(pg_total_relation_size('user_logins_ledger')
    * 1000000.0 / greatest(count(*), 1) / 1048576) FROM user_logins_ledger")" "-" "-" "-"
