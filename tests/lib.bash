# shellcheck shell=bash
# tests/lib.bash - the test harness, sourced by tests/run, the bats files
# and scripts/demo.
#
# fa_services_up starts a throwaway PostgreSQL cluster and a moto_server on
# free loopback ports (unless tests/run already did) and exports what the
# tools need to reach them: PG*, AWS_*.  fa_services_down stops what this
# shell started and removes its files, even after a failure.

FA_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# FETCH_AWARDS_BIN: where the tools are (make valgrind points it at
# wrappers); pipeline.sh honours it too.
export PATH="${FETCH_AWARDS_BIN:-$FA_TOP/bin}:$PATH"
export LC_ALL=C
PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
[ -x "$PG_BIN/initdb" ] || PG_BIN=/usr/lib/postgresql/15/bin

fa_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a command as the postgres user when we are root (initdb refuses root).
fa_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# fa_detached CMD...: runs CMD with no descriptor above 2 open and stdin
# from /dev/null, so a server it starts holds none of ours (bats waits for
# its fd 3 to close; a test waits for EOF on a pipe).  It replaces the
# shell it runs in: call it as `fa_detached CMD &`, where that shell is
# the background job and $! becomes CMD's pid (what a later kill needs),
# or in a subshell, `(fa_detached CMD)`.
fa_detached() {
	local fd
	for fd in "/proc/$BASHPID/fd/"*; do
		fd=${fd##*/}
		if [ "$fd" -gt 2 ] 2>/dev/null; then
			eval "exec $fd>&-"
		fi
	done
	exec </dev/null
	if declare -F "$1" >/dev/null; then
		"$@"
		exit
	fi
	exec "$@"
}

fa_pg_start() {
	FA_PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/fa-pg.XXXXXX")
	chmod 755 "$FA_PGDIR"
	[ "$(id -u)" = 0 ] && chown postgres "$FA_PGDIR"
	fa_as_pg "$PG_BIN/initdb" -D "$FA_PGDIR/data" -A trust -U postgres \
	    -E UTF8 --locale=C.UTF-8 --no-sync >"$FA_PGDIR/initdb.log" 2>&1 || {
		cat "$FA_PGDIR/initdb.log" >&2
		return 1
	}
	PGPORT=$(fa_free_port)
	(fa_detached fa_as_pg "$PG_BIN/pg_ctl" -D "$FA_PGDIR/data" -l "$FA_PGDIR/server.log" \
	    -o "-p $PGPORT -k $FA_PGDIR -c listen_addresses=127.0.0.1" \
	    -w -t 60 start) >/dev/null || {
		cat "$FA_PGDIR/server.log" >&2
		return 1
	}
	export FA_PGDIR PGPORT PGHOST=127.0.0.1 PGUSER=postgres PGDATABASE=postgres
}

# Stops and starts the same cluster: a server restart, for fault tests.
fa_pg_stop() {
	fa_as_pg "$PG_BIN/pg_ctl" -D "$FA_PGDIR/data" -m fast -w stop >/dev/null
}

fa_pg_running() {
	fa_as_pg "$PG_BIN/pg_ctl" -D "$FA_PGDIR/data" status >/dev/null 2>&1
}

fa_pg_restart_stopped() {
	(fa_detached fa_as_pg "$PG_BIN/pg_ctl" -D "$FA_PGDIR/data" -l "$FA_PGDIR/server.log" \
	    -o "-p $PGPORT -k $FA_PGDIR -c listen_addresses=127.0.0.1" \
	    -w -t 60 start) >/dev/null
}

fa_moto_start() {
	local port i
	port=$(fa_free_port)
	FA_MOTO_LOG=$(mktemp "${TMPDIR:-/tmp}/fa-moto.XXXXXX")
	fa_detached moto_server -H 127.0.0.1 -p "$port" >"$FA_MOTO_LOG" 2>&1 &
	FA_MOTO_PID=$!
	export FA_MOTO_PID FA_MOTO_LOG
	export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
	export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
	unset AWS_ENDPOINT_URL_SQS AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_PROFILE
	for i in $(seq 100); do
		curl -fs -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" && return 0
		kill -0 "$FA_MOTO_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "moto_server did not start (after $i tries):" >&2
	cat "$FA_MOTO_LOG" >&2
	return 1
}

fa_services_up() {
	[ -n "${FA_SERVICES:-}" ] && return 0
	fa_pg_start && fa_moto_start || return 1
	FA_SERVICES=$$
	export FA_SERVICES
}

# Stops what fa_services_up started.  Runs in EXIT traps under set -e:
# a server that dies of our SIGTERM is no failure.
fa_services_down() {
	[ "${FA_SERVICES:-}" = $$ ] || return 0
	if [ -n "${FA_MOTO_PID:-}" ]; then
		kill "$FA_MOTO_PID" 2>/dev/null || true
		wait "$FA_MOTO_PID" 2>/dev/null || true
		rm -f "$FA_MOTO_LOG"
	fi
	if [ -n "${FA_PGDIR:-}" ]; then
		fa_pg_stop 2>/dev/null || true
		rm -rf "$FA_PGDIR"
	fi
	unset FA_SERVICES
}

# fa_sqs ACTION JSON: one call of the SQS JSON protocol, by curl rather
# than by our own client, so the tests do not check the code with itself.
fa_sqs() {
	curl -fsS -X POST "$AWS_ENDPOINT_URL/" \
	    --aws-sigv4 "aws:amz:$AWS_REGION:sqs" \
	    -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "X-Amz-Target: AmazonSQS.$1" \
	    -H 'Content-Type: application/x-amz-json-1.0' \
	    --data-binary "$2"
}

# fa_queue NAME [MAX_RECEIVES]: creates NAME and NAME-dlq with a redrive
# policy; sets QUEUE_URL and DLQ_URL.
fa_queue() {
	local name=$1 max=${2:-2} arn
	DLQ_URL=$(fa_sqs CreateQueue "{\"QueueName\":\"$name-dlq\"}" | jq -r .QueueUrl)
	arn=$(fa_sqs GetQueueAttributes "{\"QueueUrl\":\"$DLQ_URL\",\"AttributeNames\":[\"QueueArn\"]}" |
	    jq -r .Attributes.QueueArn)
	QUEUE_URL=$(fa_sqs CreateQueue "$(jq -cn --arg n "$name" --arg arn "$arn" --arg max "$max" \
	    '{QueueName: $n, Attributes: {RedrivePolicy: ({deadLetterTargetArn: $arn, maxReceiveCount: $max} | tojson), VisibilityTimeout: "30"}}')" |
	    jq -r .QueueUrl)
	export QUEUE_URL DLQ_URL SQS_QUEUE_URL=$QUEUE_URL
}

# fa_send URL < bodies: sends each input line as one message body.
fa_send() {
	local url=$1
	jq -Rc --arg url "$url" '{Id: (input_line_number | tostring), MessageBody: .}' |
	    jq -sc --arg url "$url" '_nwise(10) | {QueueUrl: $url, Entries: .}' |
	    while IFS= read -r batch; do
		fa_sqs SendMessageBatch "$batch" | jq -e '(.Failed // []) | length == 0' >/dev/null || return 1
	done
}

# fa_queue_count URL: visible plus in-flight messages.
fa_queue_count() {
	fa_sqs GetQueueAttributes "{\"QueueUrl\":\"$1\",\"AttributeNames\":[\"All\"]}" |
	    jq '.Attributes | (.ApproximateNumberOfMessages | tonumber) + (.ApproximateNumberOfMessagesNotVisible | tonumber)'
}

# fa_key FILE: a fresh random key, mode 600.
fa_key() {
	(umask 077 && openssl rand -hex 32 >"$1")
}

# fa_hmac KEYFILE VALUE: the expected mask, computed by openssl.
fa_hmac() {
	printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(tr -d ' \n' <"$1")" |
	    sed 's/^.*= //'
}

fa_psql() {
	psql -X -q -v ON_ERROR_STOP=1 -At "$@"
}

# fa_responder MODE [UPSTREAM] [--tls CERT KEY]: starts
# tests/helpers/sqs-responder.py in the background; sets RESPONDER_PORT,
# RESPONDER_PID and RESPONDER_LOG (its request log).
fa_responder() {
	local portfile i
	portfile=$(mktemp -u "${TMPDIR:-/tmp}/fa-responder.XXXXXX")
	RESPONDER_LOG=$portfile.log
	fa_detached python3 "$FA_TOP/tests/helpers/sqs-responder.py" "$portfile" "$@" 2>"$RESPONDER_LOG" &
	RESPONDER_PID=$!
	for i in $(seq 100); do
		[ -s "$portfile" ] && break
		sleep 0.05
	done
	RESPONDER_PORT=$(cat "$portfile")
	rm -f "$portfile"
	export RESPONDER_PORT RESPONDER_PID RESPONDER_LOG
}
