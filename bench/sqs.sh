#!/usr/bin/env bash
# bench/sqs.sh - sqs-recv | sqs-ack against boto3 doing the same
# receive+delete: (a) requests per message, draining one moto_server queue
# each; (b) client CPU per message, draining 20000 messages from a canned
# SQS that answers at once (whole processes for us, start-up included; the
# loop only for boto3), and the part of it libcurl's signed requests
# alone take (bench/curl-floor.c); (c) messages per second received and deleted at
# concurrency 1, 8 and 32 from a canned SQS that answers after 20 ms.
set -eu
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=tests/lib.bash
. tests/lib.bash
N=${BENCH_MESSAGES:-500}
CPU_N=${BENCH_CPU_MESSAGES:-20000}
work=$(mktemp -d)
canned=""
trap '[ -z "$canned" ] || kill "$canned"; fa_services_down; rm -rf "$work" "$BENCH_TIME_OUT"' EXIT
fa_moto_start
FA_SERVICES=$$

posts() { grep -c '"POST ' "$FA_MOTO_LOG" || true; }

# (a) the same drain, by boto3 and by us, on one moto_server
fa_queue bench-boto3 >/dev/null
seq "$N" | fa_send "$QUEUE_URL"
before=$(posts)
AWS_DEFAULT_REGION=$AWS_REGION python3 bench/sqs_boto3_ref.py "$QUEUE_URL" >/dev/null
boto_req=$(($(posts) - before))

fa_queue bench-ours >/dev/null
seq "$N" | fa_send "$QUEUE_URL"
before=$(posts)
sqs-recv --until-empty --wait-seconds 0 | sqs-ack
our_req=$(($(posts) - before))
per() { awk -v a="$1" -v n="$N" 'BEGIN { printf "%.3g", a / n }'; }
result "sqs-recv|sqs-ack vs boto3 on moto: requests/message" "$(per "$our_req")" \
    "$(per "$boto_req") (boto3)" "$(awk -v a="$our_req" -v b="$boto_req" 'BEGIN { printf "%.2f", a / b }')" "-"

canned() {	# canned DELAY_MS: (re)starts the canned SQS
	[ -z "$canned" ] || kill "$canned"
	rm -f "$work/port"
	fa_detached node bench/canned-sqs.js "$work/port" "$1" &
	canned=$!
	for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
	AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$work/port")
	export AWS_ENDPOINT_URL
	Q=$AWS_ENDPOINT_URL/1/q
}

# (b) CPU for the same work, at once-answering SQS
canned 0
/usr/bin/time -f "%U %S" -o "$work/cpu" sh -c "sqs-recv --queue-url $Q --max-messages $CPU_N \
    --wait-seconds 0 | sqs-ack --queue-url $Q" >/dev/null 2>&1
our_cpu=$(awk '{ print $1 + $2 }' "$work/cpu")
boto_cpu=$(AWS_DEFAULT_REGION=$AWS_REGION python3 bench/sqs_boto3_ref.py "$Q" "$CPU_N")
result "sqs-recv|sqs-ack vs boto3: client CPU ms/message" \
    "$(awk -v c="$our_cpu" -v n="$CPU_N" 'BEGIN { printf "%.4f", c * 1000 / n }')" \
    "$(awk -v c="$boto_cpu" -v n="$CPU_N" 'BEGIN { printf "%.4f", c * 1000 / n }') (boto3)" \
    "$(awk -v a="$our_cpu" -v b="$boto_cpu" 'BEGIN { printf "%.3f", a / b }')" "<= 0.1"
# The floor under that: libcurl's own signed requests, two per ten messages.
cc -O2 -o "$work/curl-floor" bench/curl-floor.c -lcurl
floor_cpu=$("$work/curl-floor" "$Q" $((CPU_N / 5)))
result "libcurl alone, SigV4-signed, 2 requests/10 msgs: CPU ms/message" \
    "$(awk -v c="$floor_cpu" -v n="$CPU_N" 'BEGIN { printf "%.4f", c * 1000 / n }')" \
    "$(awk -v c="$boto_cpu" -v n="$CPU_N" 'BEGIN { printf "%.4f", c * 1000 / n }') (boto3)" \
    "$(awk -v a="$floor_cpu" -v b="$boto_cpu" 'BEGIN { printf "%.3f", a / b }')" "-"

# (c) throughput against a canned SQS 20 ms away
canned 20
for c in 1 8 32; do
	m=$((c * 400))
	[ "$m" -lt 2000 ] && m=2000
	t=$(best_seconds 1 /dev/null sh -c "sqs-recv --queue-url $Q --concurrency $c \
	    --max-messages $m --wait-seconds 0 | sqs-ack --queue-url $Q --concurrency $c")
	result "sqs-recv|sqs-ack, SQS 20 ms away, concurrency $c (msgs/s)" \
	    "$(awk -v m="$m" -v t="$t" 'BEGIN { printf "%.0f", m / t }')" "-" "-" \
	    "$([ "$c" = 32 ] && echo ">= 10000" || echo -)"
done
