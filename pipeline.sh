#!/usr/bin/env bash
# pipeline.sh - run sqs-recv | pii-mask | pg-load | sqs-ack as one command.
#
# Options are handed to the stages that take them; see --help.  Exits 0
# when every stage succeeded, otherwise with the status of the stage that
# failed first in cause: a stage that only saw its neighbour vanish
# (status 4, a broken pipe) is reported but not blamed.
set -eu -o pipefail

usage() {
	cat <<'USAGE'
usage: pipeline.sh [-j N] [--queue-url URL] [--endpoint-url URL]
                   [--protocol json|query|auto] [--ca-bundle FILE]
                   [--concurrency N] [--until-empty] [--max-messages N]
                   [--wait-seconds S] [--visibility-timeout S]
                   [--hold-seconds S]
                   [--key-file FILE] [--mode hmac|siv] [--key-id ID]
                   [--dbname CONNINFO] [--create] [--batch-rows N]
                   [--connections N] [--flush-ms MS] [--retry-seconds S]
                   [--dead-letter-queue URL] [--stats] [--metrics-file PATH]
                   [--metrics-label NAME=VALUE] [--health-file PATH]
                   [--version]

Runs sqs-recv | pii-mask | pg-load | sqs-ack; with -j N, N such pipelines
side by side (SQS spreads the messages, the ledger keeps them exactly
once).  Each option goes to the stages that take it:
  sqs-recv and sqs-ack  --queue-url, --endpoint-url, --protocol,
                        --ca-bundle, --concurrency
  sqs-recv              --until-empty, --max-messages, --wait-seconds,
                        --visibility-timeout, --hold-seconds (default
                        43200 with --dead-letter-queue: every message
                        then ends deleted, rejects too)
  pii-mask              --key-file, --mode, --key-id
  pg-load               --dbname, --create, --batch-rows, --connections,
                        --flush-ms, --retry-seconds
  sqs-ack               --dead-letter-queue (and pii-mask --reject-body:
                        rejected messages are parked there at once)
  every stage           --stats (one summary line each), --metrics-file
                        PATH and --health-file PATH (one file per stage:
                        PATH with the stage's name, and with -j N the
                        pipeline's number, before its extension:
                        metrics.prom -> metrics.pg-load.prom,
                        metrics.pg-load.2.prom), --metrics-label
                        NAME=VALUE (with -j N each pipeline's series also
                        carry pipeline="1".."N")

Outages: run on (no --until-empty, no --max-messages), every stage waits
out an SQS or PostgreSQL outage of any length, with one log line when a
service goes away and one when it is back.  Draining (--until-empty or
--max-messages), the stages give up as a batch job should: sqs-recv and
sqs-ack after AWS_MAX_ATTEMPTS tries (default 8), pg-load after
--retry-seconds (default 60 here).
The environment of each tool applies (SQS_QUEUE_URL, PII_MASK_KEY_FILE, PG*,
AWS_*); FETCH_AWARDS_BIN names the directory of the tools (default: beside
this script).  --version prints the version of those tools.

SIGTERM or SIGINT goes to sqs-recv alone: it stops polling, and the end of
input drains the other stages, which all exit 0.  A second signal ends
every stage at once.

Exit status: 0 all stages succeeded; otherwise the status of the failing
stage (1 partial, 2 usage, 3 configuration, 4 I/O, 5 SQS, 6 PostgreSQL).
USAGE
}

recv=() mask=() load=() ack=()
jobs=1 args=() version=0 metrics="" health="" draining=0 retry=""
parking=0 hold=""
while [ $# -gt 0 ]; do
	opt=$1
	case $opt in
	--*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
	esac
	case $opt in
	-j|--jobs)
		if [ $# -lt 2 ] || ! [ "$2" -ge 1 ] 2>/dev/null; then
			echo "pipeline.sh: $opt needs a number of pipelines" >&2
			exit 2
		fi
		jobs=$2
		shift 2
		continue ;;
	-j*) set -- -j "${opt#-j}" "${@:2}"; continue ;;
	esac
	args+=("$opt")
	case $opt in
	--until-empty) recv+=("$opt"); draining=1 ;;
	--create) load+=("$opt") ;;
	--stats) recv+=("$opt"); mask+=("$opt"); load+=("$opt"); ack+=("$opt") ;;
	-h|--help) usage; exit 0 ;;
	-V|--version) version=1 ;;
	--queue-url|--endpoint-url|--protocol|--ca-bundle|--concurrency|\
	--max-messages|--wait-seconds|--visibility-timeout|--hold-seconds|\
	--key-file|--mode|--key-id|\
	--dbname|--batch-rows|--connections|--flush-ms|--retry-seconds|\
	--dead-letter-queue|--metrics-file|--metrics-label|--health-file)
		if [ $# -lt 2 ]; then
			echo "pipeline.sh: $opt needs a value" >&2
			usage >&2
			exit 2
		fi
		args+=("$2")
		case $opt in
		--queue-url|--endpoint-url|--protocol|--ca-bundle|--concurrency)
			recv+=("$opt" "$2"); ack+=("$opt" "$2") ;;
		--dead-letter-queue)
			ack+=("$opt" "$2"); mask+=(--reject-body); parking=1 ;;
		--hold-seconds) hold=$2 ;;
		--key-file|--mode|--key-id) mask+=("$opt" "$2") ;;
		--dbname|--batch-rows|--connections|--flush-ms)
			load+=("$opt" "$2") ;;
		--retry-seconds) retry=$2 ;;
		--max-messages) recv+=("$opt" "$2"); draining=1 ;;
		--metrics-file) metrics=$2 ;;
		--metrics-label)
			recv+=("$opt" "$2"); mask+=("$opt" "$2")
			load+=("$opt" "$2"); ack+=("$opt" "$2") ;;
		--health-file) health=$2 ;;
		*) recv+=("$opt" "$2") ;;
		esac
		shift ;;
	*)
		echo "pipeline.sh: unknown option: $opt" >&2
		usage >&2
		exit 2 ;;
	esac
	shift
done

# stage_file PATH STAGE: the stage's own file of a --metrics-file or
# --health-file PATH.
stage_file() {
	local base=$1 ext="" n=${FA_PIPELINE_NUMBER:+.$FA_PIPELINE_NUMBER}
	case ${1##*/} in
	?*.*) ext=.${1##*.}; base=${1%.*} ;;
	esac
	echo "$base.$2$n$ext"
}
# A run that drains gives up on an outage, as a batch job should; one
# that runs on waits it out (each tool's default).
if [ "$draining" -eq 1 ]; then
	export AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-8}"
	retry=${retry:-60}
fi
[ -z "$retry" ] || load+=(--retry-seconds "$retry")
# Parking deletes rejects at once, so a message that comes back is only
# ever one the pipeline still holds: keep it hidden as long as SQS lets.
if [ "$parking" -eq 1 ] && [ "$draining" -eq 0 ]; then
	hold=${hold:-43200}
fi
[ -z "$hold" ] || recv+=(--hold-seconds "$hold")
if [ -n "${FA_PIPELINE_NUMBER:-}" ]; then
	label=(--metrics-label "pipeline=$FA_PIPELINE_NUMBER")
	recv+=("${label[@]}") mask+=("${label[@]}")
	load+=("${label[@]}") ack+=("${label[@]}")
fi
for pair in "metrics-file $metrics" "health-file $health"; do
	opt=${pair%% *} path=${pair#* }
	[ -n "$path" ] || continue
	mkdir -p "$(dirname "$path")"
	recv+=("--$opt" "$(stage_file "$path" sqs-recv)")
	mask+=("--$opt" "$(stage_file "$path" pii-mask)")
	load+=("--$opt" "$(stage_file "$path" pg-load)")
	ack+=("--$opt" "$(stage_file "$path" sqs-ack)")
done

# The tools in $FETCH_AWARDS_BIN, else beside this script (bin/ in the
# source tree, or the same directory once installed), else the PATH.
here=$(dirname "$0")
if [ -n "${FETCH_AWARDS_BIN:-}" ]; then
	bin="$FETCH_AWARDS_BIN/"
elif [ -x "$here/bin/sqs-recv" ]; then
	bin="$here/bin/"
elif [ -x "$here/sqs-recv" ]; then
	bin="$here/"
else
	bin=""
fi

# The version of the tools it runs, which is its own.
if [ "$version" -eq 1 ]; then
	out=$("${bin}sqs-recv" --version)
	echo "pipeline.sh ${out#sqs-recv }"
	exit 0
fi

# -j N: N copies of this pipeline; the status is the worst of theirs, as
# below.  SIGTERM and SIGINT are passed to each copy, which drains.
if [ "$jobs" -gt 1 ]; then
	pids=()
	for i in $(seq "$jobs"); do
		FA_PIPELINE_NUMBER=$i "$0" ${args[@]+"${args[@]}"} &
		pids+=($!)
	done
	trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' INT TERM
	blame=0
	for pid in "${pids[@]}"; do
		s=0
		# wait returns early, above 128, when a signal is trapped
		while :; do
			s=0
			wait "$pid" || s=$?
			kill -0 "$pid" 2>/dev/null || break
		done
		if [ "$blame" -eq 0 ] || { [ "$blame" -eq 4 ] && [ "$s" -ne 0 ]; }; then
			blame=$s
		fi
	done
	exit "$blame"
fi

# The stages run in the background, so that this shell (PID 1 in a
# container, too) can take SIGTERM and SIGINT while they work.  Each
# records its pid and its exit status.  The first signal goes to sqs-recv
# alone: it abandons its poll and closes its output, and the end of input
# flows down, pii-mask finishing, pg-load committing what it holds,
# sqs-ack deleting it, all exiting 0.  A second signal ends every stage at
# once; nothing is lost, as nothing uncommitted was acknowledged.
dir=$(mktemp -d "${TMPDIR:-/tmp}/pipeline.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# stage INDEX CMD...: runs CMD on this element's stdin and stdout.
stage() {
	local i=$1
	shift
	# This shell outlives the signals (the tool takes them).  Caught,
	# not ignored: an ignored signal would stay ignored in the tool
	# until it sets its handler.
	trap : INT TERM
	"$@" <&0 &
	echo "$!" >"$dir/pid.$i"
	wait "$!" && echo 0 >"$dir/status.$i" || echo "$?" >"$dir/status.$i"
}

signals=0
# shellcheck disable=SC2317 # called by the trap
on_signal() {
	local i pid
	signals=$((signals + 1))
	if [ "$signals" -eq 1 ]; then
		if pid=$(cat "$dir/pid.0" 2>/dev/null); then
			kill -TERM "$pid" 2>/dev/null || :	# sqs-recv alone
		fi
		return
	fi
	for i in 0 1 2 3; do
		if pid=$(cat "$dir/pid.$i" 2>/dev/null); then
			kill -KILL "$pid" 2>/dev/null || :
		fi
	done
}
trap on_signal INT TERM

set +e
stage 0 "${bin}sqs-recv" ${recv[@]+"${recv[@]}"} |
	stage 1 "${bin}pii-mask" ${mask[@]+"${mask[@]}"} |
	stage 2 "${bin}pg-load" ${load[@]+"${load[@]}"} |
	stage 3 "${bin}sqs-ack" ${ack[@]+"${ack[@]}"} &
# wait returns early, above 128, each time a signal is trapped
until wait; do :; done
set -e

stages=(sqs-recv pii-mask pg-load sqs-ack)
blame=0
for i in 0 1 2 3; do
	s=$(cat "$dir/status.$i" 2>/dev/null || echo 1)
	[ "$s" -eq 0 ] && continue
	echo "pipeline.sh: ${stages[$i]} exited with status $s" >&2
	if [ "$blame" -eq 0 ] || { [ "$blame" -eq 4 ] && [ "$s" -ne 4 ]; }; then
		blame=$s
	fi
done
exit "$blame"
