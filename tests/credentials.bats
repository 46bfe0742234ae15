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

@test "credentials: a container endpoint in clear only on loopback or the ECS and EKS agents' addresses" {
	for uri in http://10.1.2.3/creds http://169.254.169.254/creds http://example.com/creds; do
		run env AWS_CONTAINER_CREDENTIALS_FULL_URI="$uri" AWS_CONTAINER_AUTHORIZATION_TOKEN=container-secret \
		    sqs-recv --until-empty --wait-seconds 0
		[ "$status" -eq 3 ]
		[[ "$output" == *"must be https, or http to a loopback address"* ]]
		[[ "$output" != *container-secret* ]]
	done
	# loopback by name, and 127.0.0.0/8 as a whole
	AWS_CONTAINER_CREDENTIALS_FULL_URI=http://localhost:$RESPONDER_PORT/creds \
	    AWS_CONTAINER_AUTHORIZATION_TOKEN=container-secret sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDCONTAINER token" ]
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

# sts: the STS calls logged, one per line (the log emptied by ": >"
# while the responder writes on at its offset starts with NULs).
sts() {
	tr -d '\000' <"$RESPONDER_LOG" | grep '^sts ' || true
}

@test "credentials: web identity from the environment (IRSA), the token file read again at each refresh" {
	kill "$RESPONDER_PID"
	fa_responder empty --ttl 200	# inside the five-minute margin: every call refreshes
	export AWS_ENDPOINT_URL=http://127.0.0.1:$RESPONDER_PORT SQS_QUEUE_URL=http://127.0.0.1:$RESPONDER_PORT/1/q
	export AWS_ENDPOINT_URL_STS=$AWS_ENDPOINT_URL
	echo jwt-one >"$BATS_TEST_TMPDIR/token"
	AWS_WEB_IDENTITY_TOKEN_FILE=$BATS_TEST_TMPDIR/token AWS_ROLE_ARN=arn:aws:iam::123456789012:role/irsa \
	    AWS_ROLE_SESSION_NAME=pod-1 sqs-recv --wait-seconds 0 >/dev/null &
	pid=$!
	for _ in $(seq 100); do
		[ "$(grep -c '^json' "$RESPONDER_LOG")" -ge 2 ] && break
		sleep 0.05
	done
	echo jwt-two >"$BATS_TEST_TMPDIR/token"	# the kubelet rotates it
	for _ in $(seq 100); do
		sts | grep -q 'token=jwt-two' && break
		sleep 0.05
	done
	sleep 0.2
	kill "$pid"
	wait "$pid" || true
	sts | head -1 | grep -qx 'sts AssumeRoleWithWebIdentity - role=arn:aws:iam::123456789012:role/irsa session=pod-1 external=- duration=- token=jwt-one'
	sts | grep -q 'token=jwt-two'
	# every SQS request signed with a key STS issued, the last ones with
	# a key issued for the new token
	first_new=$(sts | grep -n 'token=jwt-two' | head -1 | cut -d: -f1)
	last=$(signed_with)
	[[ "$last" =~ ^AKIDWEB([0-9]+)\ token$ ]]
	[ "${BASH_REMATCH[1]}" -ge "$first_new" ]
	run ! bash -c "grep -a '^json' '$RESPONDER_LOG' | grep -v ' AKIDWEB[0-9]* token\$'"
}

@test "credentials: web identity in a profile; a refused token is a configuration error naming STS" {
	export AWS_ENDPOINT_URL_STS=$AWS_ENDPOINT_URL
	echo jwt-p >"$BATS_TEST_TMPDIR/token"
	cat >"$HOME/.aws/config" <<-INI
	[profile web]
	role_arn = arn:aws:iam::123456789012:role/web
	web_identity_token_file = $BATS_TEST_TMPDIR/token
	role_session_name = from-profile
	INI
	AWS_PROFILE=web sqs-recv --until-empty --wait-seconds 0
	[ "$(signed_with)" = "AKIDWEB1 token" ]
	sts | grep -qx 'sts AssumeRoleWithWebIdentity - role=arn:aws:iam::123456789012:role/web session=from-profile external=- duration=- token=jwt-p'
	echo bad >"$BATS_TEST_TMPDIR/token"
	run env AWS_PROFILE=web sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	[[ "$output" == *"STS AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role/web: InvalidIdentityToken"* ]]
}

@test "credentials: role_arn with source_profile, chained, signed by the source; external_id, duration, session name; loops refused" {
	export AWS_ENDPOINT_URL_STS=$AWS_ENDPOINT_URL
	cat >"$HOME/.aws/credentials" <<-'INI'
	[base]
	aws_access_key_id = AKIDBASE
	aws_secret_access_key = x
	INI
	cat >"$HOME/.aws/config" <<-'INI'
	[profile ops]
	role_arn = arn:aws:iam::111111111111:role/ops
	source_profile = base
	external_id = ext-7
	duration_seconds = 900
	role_session_name = etl
	[profile deep]
	role_arn = arn:aws:iam::222222222222:role/deep
	source_profile = ops
	[profile loop-a]
	role_arn = arn:aws:iam::1:role/a
	source_profile = loop-b
	[profile loop-b]
	role_arn = arn:aws:iam::1:role/b
	source_profile = loop-a
	[profile env-role]
	role_arn = arn:aws:iam::3:role/env
	credential_source = Environment
	[profile ecs-role]
	role_arn = arn:aws:iam::4:role/ecs
	credential_source = EcsContainer
	INI
	AWS_PROFILE=ops sqs-recv --until-empty --wait-seconds 0
	sts | grep -qx 'sts AssumeRole AKIDBASE role=arn:aws:iam::111111111111:role/ops session=etl external=ext-7 duration=900 token=-'
	[ "$(signed_with)" = "AKIDROLE1 token" ]
	# a chain: base signs for ops, ops' credentials sign for deep
	: >"$RESPONDER_LOG"
	AWS_PROFILE=deep sqs-recv --until-empty --wait-seconds 0
	sts | grep -q '^sts AssumeRole AKIDBASE role=arn:aws:iam::111111111111:role/ops '
	sts | grep -q '^sts AssumeRole AKIDROLE2 role=arn:aws:iam::222222222222:role/deep '
	[ "$(signed_with)" = "AKIDROLE3 token" ]
	run env AWS_PROFILE=loop-a sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	[[ "$output" == *"profile loop-a: source_profile leads back to it (a loop)"* ]]
	# credential_source: the environment's keys sign the call
	: >"$RESPONDER_LOG"
	AWS_PROFILE=env-role AWS_ACCESS_KEY_ID=AKIDENVSRC AWS_SECRET_ACCESS_KEY=y \
	    sqs-recv --until-empty --wait-seconds 0
	sts | grep -q '^sts AssumeRole AKIDENVSRC role=arn:aws:iam::3:role/env '
	[ "$(signed_with)" = "AKIDROLE4 token" ]
	# or the container endpoint's
	: >"$RESPONDER_LOG"
	AWS_PROFILE=ecs-role AWS_CONTAINER_CREDENTIALS_FULL_URI=$AWS_ENDPOINT_URL/creds \
	    AWS_CONTAINER_AUTHORIZATION_TOKEN=container-secret sqs-recv --until-empty --wait-seconds 0
	sts | grep -q '^sts AssumeRole AKIDCONTAINER role=arn:aws:iam::4:role/ecs '
	[ "$(signed_with)" = "AKIDROLE5 token" ]
}

@test "credentials: credential_process, run without a shell, its answer checked, its stderr passed through" {
	mkdir "$BATS_TEST_TMPDIR/my dir"
	cat >"$BATS_TEST_TMPDIR/my dir/helper" <<-'SH'
	#!/bin/sh
	echo "helper: issuing for $1 $2" >&2
	[ "$1" = "--account" ] && [ "$2" = "a b" ] || exit 7
	printf '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2999-01-01T00:00:00Z"}\n'
	SH
	cat >"$BATS_TEST_TMPDIR/my dir/v2" <<-'SH'
	#!/bin/sh
	echo '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "s"}'
	SH
	chmod +x "$BATS_TEST_TMPDIR/my dir/helper" "$BATS_TEST_TMPDIR/my dir/v2"
	cat >"$HOME/.aws/config" <<-INI
	[profile proc]
	credential_process = "$BATS_TEST_TMPDIR/my dir/helper" --account "a b"
	[profile semi]
	credential_process = "$BATS_TEST_TMPDIR/my dir/helper" --account x;touch $BATS_TEST_TMPDIR/pwned
	[profile v2]
	credential_process = "$BATS_TEST_TMPDIR/my dir/v2"
	INI
	run --separate-stderr env AWS_PROFILE=proc sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"helper: issuing for --account a b"* ]]
	[ "$(signed_with)" = "AKIDPROC token" ]
	# no shell: a ; is a character of a word
	run env AWS_PROFILE=semi sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	[[ "$output" == *"credential_process: "*"helper failed (status 7)"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/pwned" ]
	run env AWS_PROFILE=v2 sqs-recv --until-empty --wait-seconds 0
	[ "$status" -eq 3 ]
	[[ "$output" == *"credential_process: the answer is not Version 1"* ]]
}

@test "credentials: a slow source (2 s an answer) renews in the background; receives go on meanwhile" {
	kill "$RESPONDER_PID"
	# credentials inside the five-minute margin: renewed all the time
	fa_responder empty --ttl 200 --slow 2
	export AWS_ENDPOINT_URL=http://127.0.0.1:$RESPONDER_PORT SQS_QUEUE_URL=http://127.0.0.1:$RESPONDER_PORT/1/q
	AWS_CONTAINER_CREDENTIALS_FULL_URI=$AWS_ENDPOINT_URL/creds AWS_CONTAINER_AUTHORIZATION_TOKEN=container-secret \
	    sqs-recv --wait-seconds 0 >/dev/null &
	pid=$!
	for _ in $(seq 100); do	# the first fetch, which must wait
		grep -q '^json' "$RESPONDER_LOG" && break
		sleep 0.1
	done
	sleep 5
	kill "$pid"
	wait "$pid" || true
	creds=$(grep -c '^creds container' "$RESPONDER_LOG")
	json=$(grep -c '^json' "$RESPONDER_LOG")
	echo "in about 5 s: $creds slow fetches, $json receives"
	# two renewals or more ran, and the receives did not wait for them
	# (waiting, there would be one receive per fetch)
	[ "$creds" -ge 3 ]
	[ "$json" -ge $((creds * 10)) ]
	# between the answers of the second and third fetch (2 s), receives
	# went on
	between=$(awk '/^creds/ { c++ } /^json/ && c == 2 { n++ } END { print n + 0 }' "$RESPONDER_LOG")
	[ "$between" -ge 5 ]
}

@test "credentials: a credential_process that does not answer is killed after 60 s" {
	cat >"$BATS_TEST_TMPDIR/stuck" <<-'SH'
	#!/bin/sh
	echo $$ >"$0.pid"
	exec sleep 300
	SH
	chmod +x "$BATS_TEST_TMPDIR/stuck"
	printf '[profile stuck]\ncredential_process = %s\n' "$BATS_TEST_TMPDIR/stuck" >"$HOME/.aws/config"
	start=$(date +%s)
	run env AWS_PROFILE=stuck sqs-recv --until-empty --wait-seconds 0
	took=$(($(date +%s) - start))
	[ "$status" -eq 3 ]
	[[ "$output" == *"credential_process: "*"stuck: no whole answer within 60 s"* ]]
	[ "$took" -ge 59 ] && [ "$took" -le 75 ]
	run kill -0 "$(cat "$BATS_TEST_TMPDIR/stuck.pid")"
	[ "$status" -ne 0 ]	# killed, not left behind
}

@test "credentials: none anywhere is a configuration error naming what to set" {
	run sqs-recv --until-empty
	[ "$status" -eq 3 ]
	[[ "$output" == *"no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"* ]]
}
