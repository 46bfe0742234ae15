#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# The AWS credential chain of sqs-recv and sqs-ack, against a local
# responder that plays SQS, a container credentials endpoint and EC2
# instance metadata, and logs which access key signed each request.

bats_require_minimum_version 1.5.0

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	fa_responder empty
	export AWS_ENDPOINT_URL=http://127.0.0.1:$RESPONDER_PORT
	export SQS_QUEUE_URL=$AWS_ENDPOINT_URL/123456789012/q
	export AWS_REGION=us-east-1 HOME=$BATS_TEST_TMPDIR AWS_MAX_ATTEMPTS=1
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
	export AWS_EC2_METADATA_DISABLED=true	# nothing to find off EC2
	mkdir -p "$HOME/.aws"
}

teardown() {
	kill "$RESPONDER_PID" 2>/dev/null || true
}

# signed_with: the access key id and token use of the last SQS request.
signed_with() {
	grep -a '^json' "$RESPONDER_LOG" | tail -1 | cut -d' ' -f3-
}

@test "credentials: the environment comes first" {
	cat >"$HOME/.aws/credentials" <<-'INI'
	[default]
	aws_access_key_id = AKIDPROFILE
	aws_secret_access_key = x
	INI
	AWS_ACCESS_KEY_ID=AKIDENV AWS_SECRET_ACCESS_KEY=y AWS_SESSION_TOKEN=t \
	    sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDENV token" ]
}

@test "credentials: ~/.aws/credentials, the default profile and AWS_PROFILE" {
	cat >"$HOME/.aws/credentials" <<-'INI'
	# comments and blank lines are fine

	[default]
	aws_access_key_id = AKIDDEFAULT
	aws_secret_access_key = x
	[work]
	aws_access_key_id=AKIDWORK
	aws_secret_access_key=y
	aws_session_token = z
	INI
	sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDDEFAULT -" ]
	AWS_PROFILE=work sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDWORK token" ]
	run env AWS_PROFILE=nope sqs-recv --until-empty
	[ "$status" -eq 3 ]
	[[ "$output" == *"profile nope: not found"* ]]
}

@test "credentials: AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE and the profile's region" {
	cat >"$BATS_TEST_TMPDIR/config" <<-'INI'
	[profile ops]
	region = eu-west-3
	aws_access_key_id = AKIDCONFIG
	aws_secret_access_key = x
	INI
	cat >"$BATS_TEST_TMPDIR/creds" <<-'INI'
	[ops]
	aws_access_key_id = AKIDSHARED
	aws_secret_access_key = y
	INI
	AWS_PROFILE=ops AWS_CONFIG_FILE=$BATS_TEST_TMPDIR/config sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDCONFIG -" ]
	AWS_PROFILE=ops AWS_CONFIG_FILE=$BATS_TEST_TMPDIR/config \
	    AWS_SHARED_CREDENTIALS_FILE=$BATS_TEST_TMPDIR/creds sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDSHARED -" ]
	# with no AWS_REGION, the profile's region signs the request
	run env -u AWS_REGION AWS_PROFILE=ops AWS_CONFIG_FILE="$BATS_TEST_TMPDIR/config" \
	    AWS_ENDPOINT_URL=http://127.0.0.1:9 sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 5 ]	# unreachable, but not for want of a region
}

@test "credentials: the container endpoint, with its authorization token or token file" {
	AWS_CONTAINER_CREDENTIALS_FULL_URI=$AWS_ENDPOINT_URL/creds AWS_CONTAINER_AUTHORIZATION_TOKEN=container-secret \
	    sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDCONTAINER token" ]
	printf 'container-secret\n' >"$BATS_TEST_TMPDIR/token"
	: >"$RESPONDER_LOG"
	AWS_CONTAINER_CREDENTIALS_FULL_URI=$AWS_ENDPOINT_URL/creds \
	    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$BATS_TEST_TMPDIR/token sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDCONTAINER token" ]
	run env AWS_CONTAINER_CREDENTIALS_FULL_URI="$AWS_ENDPOINT_URL/creds" \
	    AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong sqs-recv --until-empty
	[ "$status" -eq 3 ]
	[[ "$output" == *"container credentials endpoint: refused"* ]]
	[[ "$output" != *wrong* ]]
}

@test "credentials: EC2 instance metadata with an IMDSv2 token" {
	AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT=$AWS_ENDPOINT_URL \
	    sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDIMDS token" ]
}

@test "credentials: temporary credentials about to expire are fetched again before a request" {
	kill "$RESPONDER_PID"
	fa_responder empty --ttl 200	# inside the five-minute margin
	export AWS_ENDPOINT_URL=http://127.0.0.1:$RESPONDER_PORT SQS_QUEUE_URL=http://127.0.0.1:$RESPONDER_PORT/1/q
	AWS_CONTAINER_CREDENTIALS_FULL_URI=$AWS_ENDPOINT_URL/creds AWS_CONTAINER_AUTHORIZATION_TOKEN=container-secret \
	    sqs-recv --max-messages 1 --wait-seconds 0 &
	pid=$!
	for _ in $(seq 100); do
		[ "$(grep -c '^json' "$RESPONDER_LOG")" -ge 3 ] && break
		sleep 0.05
	done
	kill "$pid"
	wait "$pid" || true
	# a fetch at start, then one before every receive
	[ "$(grep -c '^creds container' "$RESPONDER_LOG")" -ge 3 ]
}

@test "credentials: none anywhere is a configuration error naming what to set" {
	run sqs-recv --until-empty
	[ "$status" -eq 3 ]
	[[ "$output" == *"no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"* ]]
}
