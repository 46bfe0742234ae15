#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# The documentation is true to the code: the examples in docs/ndjson.md
# are real output, every reject reason the tools give is documented, and
# every tool's --help and man page carry the shared exit-status table.

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	DOC=$FA_TOP/docs/ndjson.md
	FIX=$BATS_TEST_DIRNAME/fixtures/pii-mask
}

@test "docs/ndjson.md: every example line is JSON" {
	awk '/^```json$/ {on = 1; next} /^```$/ {on = 0} on' "$DOC" >"$BATS_TEST_TMPDIR/examples"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/examples")" -ge 5 ]
	jq -e . "$BATS_TEST_TMPDIR/examples" >/dev/null
}

@test "docs/ndjson.md: the row and reject examples are what pii-mask writes" {
	grep '^{"row":' "$DOC" >"$BATS_TEST_TMPDIR/row"
	grep '^{"reject":' "$DOC" >"$BATS_TEST_TMPDIR/reject"
	[ -s "$BATS_TEST_TMPDIR/row" ] && [ -s "$BATS_TEST_TMPDIR/reject" ]
	grep -qxF -f "$BATS_TEST_TMPDIR/row" "$FIX/envelopes.expected"
	grep -qxF -f "$BATS_TEST_TMPDIR/reject" "$FIX/envelopes.expected"
}

@test "docs/ndjson.md: every reject reason in the fixtures is documented" {
	jq -r '.reject // empty' "$FIX/envelopes.expected" | sort -u |
	    sed -E 's/^(user_id|device_type|ip|device_id|locale|app_version): (not a string or null|empty string|contains U\+0000)$/FIELD: \2/' |
	    while IFS= read -r reason; do
		grep -qF -- "\`$reason\`" "$DOC" || { echo "undocumented: $reason"; false; }
	done
}

@test "README and every --help give the exit statuses" {
	grep -q '^| 6 |' "$FA_TOP/README.md"
	for tool in sqs-recv pii-mask pg-load sqs-ack; do
		"$tool" --help | grep -q '^Exit status:'
	done
	"$FA_TOP/pipeline.sh" --help | grep -q '^Exit status:'
}

@test "--version: every tool and pipeline.sh name the same version of one build" {
	version=$(sed -n 's/^VERSION ?= //p' "$FA_TOP/Makefile")
	[ -n "$version" ]
	for tool in sqs-recv pii-mask pg-load sqs-ack; do
		run "$tool" --version
		[ "$status" -eq 0 ] && [ "$output" = "$tool (fetch-awards) $version" ]
		run "$tool" -V
		[ "$output" = "$tool (fetch-awards) $version" ]
		"$tool" --help | grep -q -- '--version'
	done
	run "$FA_TOP/pipeline.sh" --version
	[ "$status" -eq 0 ] && [ "$output" = "pipeline.sh (fetch-awards) $version" ]
}

@test "man pages: one per tool, render without warnings, share the EXIT STATUS section" {
	for page in sqs-recv pii-mask pg-load sqs-ack pipeline.sh; do
		m=$FA_TOP/man/$page.1
		[ -f "$m" ]
		run groff -mdoc -Tutf8 -ww -z "$m"
		[ "$status" -eq 0 ] && [ -z "$output" ]
		grep -qxF '.Sh EXIT STATUS' "$m"
		sed -n '/^\.Sh EXIT STATUS$/,/^\.El$/p' "$m" | diff -u "$FA_TOP/man/exit-status.mdoc" -
	done
}

@test "fetch-awards-ndjson(5): renders without warnings, and every tool's page names it" {
	m=$FA_TOP/man/fetch-awards-ndjson.5
	run groff -mdoc -Tutf8 -ww -z "$m"
	[ "$status" -eq 0 ] && [ -z "$output" ]
	for page in sqs-recv pii-mask pg-load sqs-ack pipeline.sh; do
		sed -n '/^\.Sh SEE ALSO$/,$p' "$FA_TOP/man/$page.1" | grep -qxF '.Xr fetch-awards-ndjson 5 ,'
	done
	# its reject example is a phrase pii-mask writes
	phrase=$(sed -n 's/^{"reject":"\([^"]*\)",$/\1/p' "$m")
	[ -n "$phrase" ]
	fa_key "$BATS_TEST_TMPDIR/k"
	printf '{"user_id":"u","app_version":"v1"}\n' | pii-mask -k "$BATS_TEST_TMPDIR/k" |
	    jq -e --arg p "$phrase" '.reject == $p'
}

@test "make install honours DESTDIR and PREFIX" {
	make -s -C "$FA_TOP" install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/opt/fa >/dev/null
	for f in bin/sqs-recv bin/pii-mask bin/pg-load bin/sqs-ack bin/pipeline.sh \
	    share/man/man1/pg-load.1 share/man/man1/pipeline.sh.1 \
	    share/man/man5/fetch-awards-ndjson.5; do
		[ -e "$BATS_TEST_TMPDIR/root/opt/fa/$f" ]
	done
	"$BATS_TEST_TMPDIR/root/opt/fa/bin/pipeline.sh" --help >/dev/null
}
