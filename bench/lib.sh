# shellcheck shell=bash
# bench/lib.sh - helpers for the benchmarks: best-of-N timing and the one
# result format bench/run gathers into a table.

# best_seconds N INPUT CMD...: the least wall time of N runs of CMD
# reading INPUT, output discarded, in seconds.
best_seconds() {
	local n=$1 input=$2 best="" t
	shift 2
	for _ in $(seq "$n"); do
		/usr/bin/time -f %e -o "$BENCH_TIME_OUT" "$@" <"$input" >/dev/null 2>&1
		t=$(tail -1 "$BENCH_TIME_OUT")
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$t
		fi
	done
	echo "$best"
}

# peak_rss_kib INPUT CMD...: the largest resident set of one run, in KiB.
peak_rss_kib() {
	local input=$1
	shift
	/usr/bin/time -f %M -o "$BENCH_TIME_OUT" "$@" <"$input" >/dev/null 2>&1
	tail -1 "$BENCH_TIME_OUT"
}

BENCH_TIME_OUT=$(mktemp)
trap 'rm -f "$BENCH_TIME_OUT"' EXIT

# result NAME OURS REFERENCE RATIO GOAL: one row of the benchmark table,
# tab-separated, on stdout.
result() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$@"
}
