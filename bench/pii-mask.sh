#!/usr/bin/env bash
# bench/pii-mask.sh - pii-mask's rate on 500k typical logins against a
# Python json+hmac script doing the same work in the same run, and its
# peak memory.  One core: taskset pins both to CPU 0 when available.
set -eu
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
N=${BENCH_RECORDS:-500000}
work=$(mktemp -d)
trap 'rm -rf "$work" "$BENCH_TIME_OUT"' EXIT
(umask 077 && openssl rand -hex 32 >"$work/key")
python3 bench/gen-logins.py "$N" bare >"$work/bare"
python3 bench/gen-logins.py "$N" >"$work/env"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

for kind in bare env; do
	ours=$(best_seconds 3 "$work/$kind" "${pin[@]}" bin/pii-mask -k "$work/key")
	ref=$(best_seconds 1 "$work/$kind" "${pin[@]}" python3 bench/pii_mask_ref.py "$work/key")
	rate=$(awk -v n="$N" -v t="$ours" 'BEGIN { printf "%.0f", n / t }')
	ref_rate=$(awk -v n="$N" -v t="$ref" 'BEGIN { printf "%.0f", n / t }')
	ratio=$(awk -v a="$ref" -v b="$ours" 'BEGIN { printf "%.1fx", a / b }')
	label="bodies"
	[ "$kind" = env ] && label="sqs-recv lines"
	result "pii-mask, $N $label (records/s)" "$rate" "$ref_rate (Python json+hmac)" "$ratio" ">= 1000000/s, >= 10x"
done
rss=$(peak_rss_kib "$work/env" bin/pii-mask -k "$work/key")
result "pii-mask peak RSS (KiB)" "$rss" "-" "-" "< 16384"
