#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr, $output and $lines are set by bats' run
# pii-mask on fixtures: exact output, masks checked against openssl, every
# rejection rule, key handling, and no personal data in any output.

bats_require_minimum_version 1.5.0

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	FIX=$BATS_TEST_DIRNAME/fixtures/pii-mask
	KEY=$BATS_TEST_TMPDIR/key
	cp "$BATS_TEST_DIRNAME/fixtures/test.key" "$KEY"
	chmod 600 "$KEY"
}

@test "pii-mask: fixture envelopes give exactly the expected lines" {
	pii-mask --key-file "$KEY" <"$FIX/envelopes.ndjson" >"$BATS_TEST_TMPDIR/out"
	diff -u "$FIX/envelopes.expected" "$BATS_TEST_TMPDIR/out"
}

# The canonical text of an address, by Python's ipaddress module rather
# than by our code: RFC 5952 for IPv6, IPv4-mapped addresses as IPv4.
# Any other text is masked as it is.
canon_ip() {
	python3 -c 'import ipaddress, sys
try:
    a = ipaddress.ip_address(sys.argv[1])
except ValueError:
    print(sys.argv[1])
else:
    print(a.ipv4_mapped or a if a.version == 6 else a)' "$1"
}

@test "pii-mask: masks are HMAC-SHA256 under the key, as openssl computes them" {
	pii-mask --key-file "$KEY" <"$FIX/envelopes.ndjson" >"$BATS_TEST_TMPDIR/out"
	# pair each input body with its output row; check every masked value
	paste -d '\n' "$FIX/envelopes.ndjson" "$BATS_TEST_TMPDIR/out" |
	    jq -c -n 'def pairs: [inputs] | _nwise(2);
	        pairs | select(.[1].row) | [(.[0].body | fromjson), .[1].row]' >"$BATS_TEST_TMPDIR/pairs"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/pairs")" -ge 6 ]
	checked=0
	while IFS= read -r pair; do
		for f in ip device_id; do
			raw=$(jq -r --arg f "$f" '.[0][$f] // empty' <<<"$pair")
			got=$(jq -r --arg f "masked_$f" '.[1][$f] // empty' <<<"$pair")
			if [ -z "$raw" ]; then
				[ -z "$got" ]
			else
				[ "$f" = device_id ] || raw=$(canon_ip "$raw")
				[ "$got" = "$(fa_hmac "$KEY" "$raw")" ]
				checked=$((checked + 1))
			fi
		done
	done <"$BATS_TEST_TMPDIR/pairs"
	[ "$checked" -ge 6 ]
}

@test "pii-mask: equal values give equal masks, a different key different ones" {
	body='{"user_id":"u","ip":"199.172.111.135","device_id":"593-47-5928"}'
	printf '%s\n%s\n' "$body" "$body" | pii-mask -k "$KEY" | jq -r .row.masked_ip | uniq >"$BATS_TEST_TMPDIR/a"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/a")" -eq 1 ]
	fa_key "$BATS_TEST_TMPDIR/key2"
	other=$(printf '%s\n' "$body" | pii-mask -k "$BATS_TEST_TMPDIR/key2" | jq -r .row.masked_ip)
	[ "$other" != "$(cat "$BATS_TEST_TMPDIR/a")" ]
}

@test "pii-mask: one address written several ways is one identity; other ip texts are masked as they are, and counted" {
	for ip in 2001:db8::1 2001:DB8:0:0:0:0:0:1 2001:0db8::0001 ::ffff:10.1.2.3 10.1.2.3 ::FFFF:0a01:0203; do
		printf '{"user_id":"u","ip":"%s"}\n' "$ip"
	done | pii-mask -k "$KEY" | jq -r .row.masked_ip | uniq -c | awk '{print $1}' >"$BATS_TEST_TMPDIR/counts"
	printf '3\n3\n' | diff -u - "$BATS_TEST_TMPDIR/counts"
	# not one address: stored, masked over the exact text, counted by kind
	for ip in 1.2.3 01.2.3.4 "1.2.3.4 " fe80::1%eth0 unknown "1.2.3.4, 10.0.0.1" \
	    "1.2.3.4, 10.0.0.1" ""; do
		printf '{"user_id":"u","ip":"%s"}\n' "$ip"
	done | pii-mask -k "$KEY" --stats >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	[ "$(jq -r 'select(.row) | .row.masked_ip' "$BATS_TEST_TMPDIR/out" | wc -l)" -eq 7 ]
	[ "$(sed -n 6p "$BATS_TEST_TMPDIR/out" | jq -r .row.masked_ip)" = "$(fa_hmac "$KEY" "1.2.3.4, 10.0.0.1")" ]
	[ "$(sed -n 3p "$BATS_TEST_TMPDIR/out" | jq -r .row.masked_ip)" = "$(fa_hmac "$KEY" "1.2.3.4 ")" ]
	# duplicates still match
	[ "$(sed -n 6,7p "$BATS_TEST_TMPDIR/out" | jq -r .row.masked_ip | uniq | wc -l)" -eq 1 ]
	[ "$(sed -n 8p "$BATS_TEST_TMPDIR/out" | jq -r .reject)" = "ip: empty string" ]
	tail -1 "$BATS_TEST_TMPDIR/err" | jq -e '.notes == {"ip: not an address, masked as its text": 5,
	    "ip: a list of addresses, masked as its text": 2} and .rows == 7'
}

@test "pii-mask: bare bodies are replayed with today's UTC date and null ids" {
	run pii-mask -k "$KEY" <<<'{"user_id":"u1","app_version":"2.3.0","device_type":"android","locale":"RU"}'
	[ "$status" -eq 0 ]
	[ "$output" = "{\"row\":{\"user_id\":\"u1\",\"device_type\":\"android\",\"masked_ip\":null,\"masked_device_id\":null,\"locale\":\"RU\",\"app_version\":2003000,\"create_date\":\"$(date -u +%F)\"},\"message_id\":null,\"receipt_handle\":null,\"sent_timestamp\":null,\"receive_count\":null}" ]
}

@test "pii-mask: app_version encodings keep order; the forms real queues carry are stored" {
	for v in 0.96 0.96.1 1.0 1.0.1 1.1.0 2.3.0 2.3 10.0.0 2146.999.999 \
	    6.02 2.00 10 1.0.0-beta 2.3.0+45 v2.3 1.0.0- 2.3.0.1; do
		printf '{"user_id":"u","app_version":"%s"}\n' "$v"
	done | pii-mask -k "$KEY" | jq -r '.row.app_version // .reject' >"$BATS_TEST_TMPDIR/v"
	diff -u - "$BATS_TEST_TMPDIR/v" <<-'WANT'
	96000
	96001
	1000000
	1000001
	1001000
	2003000
	2003000
	10000000
	2146999999
	6002000
	2000000
	10000000
	1000000
	2003000
	app_version: not MAJOR[.MINOR[.PATCH]] within 2146.999.999
	app_version: not MAJOR[.MINOR[.PATCH]] within 2146.999.999
	app_version: not MAJOR[.MINOR[.PATCH]] within 2146.999.999
	WANT
}

@test "pii-mask: an integer user_id is stored as its decimal text; other numbers are rejected" {
	printf '%s\n' '{"user_id":12345}' '{"user_id":-7}' '{"user_id":1.5}' '{"user_id":1e3}' \
	    '{"user_id":true}' | pii-mask -k "$KEY" | jq -r '.row.user_id // .reject' >"$BATS_TEST_TMPDIR/u"
	diff -u - "$BATS_TEST_TMPDIR/u" <<-'WANT'
	12345
	-7
	user_id: not a string or an integer
	user_id: not a string or an integer
	user_id: not a string or an integer
	WANT
}

@test "pii-mask: an envelope whose ids pg-load could not store is rejected, its valid ids kept" {
	printf '%s\n' \
	    '{"message_id":"n1","receipt_handle":"rh1","body":"{\"user_id\":\"u\"}","sent_timestamp":-1000,"receive_count":1}' \
	    '{"message_id":"n2","receipt_handle":"rh2","body":"{\"user_id\":\"u\"}","sent_timestamp":1700000000000,"receive_count":-3}' \
	    '{"message_id":"n3","receipt_handle":"rh3","body":"{\"user_id\":\"u\"}","sent_timestamp":1.5e12,"receive_count":1}' |
	    pii-mask -k "$KEY" >"$BATS_TEST_TMPDIR/out"
	jq -c '[.reject, .message_id, .sent_timestamp, .receive_count]' "$BATS_TEST_TMPDIR/out" |
	    diff -u - <(printf '%s\n' \
	    '["sent_timestamp: not an integer from 0 to 253402300799999 (ms) or null","n1",null,1]' \
	    '["receive_count: not an integer from 0 to 2147483647 or null","n2",1700000000000,null]' \
	    '["sent_timestamp: not an integer from 0 to 253402300799999 (ms) or null","n3",null,1]')
}

@test "pii-mask: every input line gives one output line, in order, bad ones included" {
	{
		printf '{"user_id":"a"}\n'
		printf '\xff\xfe not utf-8\n'
		printf '\n'
		printf '{"user_id":"\xc0\xaf overlong"}\n'
		head -c 7000000 /dev/zero | tr '\0' x; printf '\n'
		printf '{"user_id":"'; head -c 1100000 /dev/zero | tr '\0' x; printf '"}\n'
		printf '{"user_id":"b"}\n'
		printf '{"user_id":"c"}'	# no final newline
	} | pii-mask -k "$KEY" | jq -c '[.row.user_id // .reject]' >"$BATS_TEST_TMPDIR/out"
	cat >"$BATS_TEST_TMPDIR/want" <<-'WANT'
	["a"]
	["not valid UTF-8"]
	["not JSON"]
	["not valid UTF-8"]
	["line longer than 6 MiB"]
	["body longer than 1 MiB"]
	["b"]
	["c"]
	WANT
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
}

@test "pii-mask: a body over 1 MiB inside an envelope is rejected" {
	# at the limit: stored; one byte more: rejected, with its ids
	for n in 1048576 1048577; do
		printf '{"user_id":"u","pad":"'
		head -c $((n - 24)) /dev/zero | tr '\0' a
		printf '"}\n'
	done | jq -Rc '{message_id: "m", receipt_handle: "r", body: .}' |
	    pii-mask -k "$KEY" | jq -c '[.reject, .message_id]' >"$BATS_TEST_TMPDIR/out"
	printf '%s\n' '[null,"m"]' '["body longer than 1 MiB","m"]' | diff -u - "$BATS_TEST_TMPDIR/out"
}

@test "pii-mask: no key is a configuration error (exit 3), never a built-in key" {
	run env -u PII_MASK_KEY_FILE pii-mask </dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"no key"* ]]
	PII_MASK_KEY_FILE=$KEY run pii-mask <<<'{"user_id":"u"}'
	[ "$status" -eq 0 ]
}

@test "pii-mask: key files that are too open, short, odd or missing are refused" {
	k=$BATS_TEST_TMPDIR/k
	openssl rand -hex 32 >"$k"; chmod 644 "$k"
	run pii-mask -k "$k" </dev/null
	[ "$status" -eq 3 ]; [[ "$output" == *"group or others"* ]]
	openssl rand -hex 31 >"$k"; chmod 600 "$k"
	run pii-mask -k "$k" </dev/null
	[ "$status" -eq 3 ]; [[ "$output" == *"shorter than 32 bytes"* ]]
	echo "this is not hex at all, not at all, not at all, no no no no no" >"$k"
	run pii-mask -k "$k" </dev/null
	[ "$status" -eq 3 ]; [[ "$output" == *"hex"* ]]
	[[ "$output" != *"not at all"* ]]
	run pii-mask -k "$BATS_TEST_TMPDIR/none" </dev/null
	[ "$status" -eq 3 ]; [[ "$output" == *"cannot open"* ]]
}

@test "pii-mask: --help to stdout with exit 0, misuse to stderr with exit 2" {
	run --separate-stderr pii-mask --help
	[ "$status" -eq 0 ]; [[ "$output" == usage:* ]]; [ -z "$stderr" ]
	run --separate-stderr pii-mask --no-such-option
	[ "$status" -eq 2 ]; [ -z "$output" ]; [[ "$stderr" == *usage:* ]]
	run --separate-stderr pii-mask extra-argument
	[ "$status" -eq 2 ]
}

@test "pii-mask: raw ip and device_id appear in no output and no error" {
	jq -r '.body | fromjson? | (.ip, .device_id) // empty | select(type == "string" and length > 3)' \
	    "$FIX/envelopes.ndjson" | sort -u >"$BATS_TEST_TMPDIR/raw"
	[ -s "$BATS_TEST_TMPDIR/raw" ]
	pii-mask -k "$KEY" <"$FIX/envelopes.ndjson" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	# (a bare "! grep" cannot fail a bats test: errexit ignores it)
	run grep -F -f "$BATS_TEST_TMPDIR/raw" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 1 ]
}

@test "pii-mask: a write error is reported with exit 4" {
	[ -w /dev/full ] || skip "no /dev/full"
	run bash -c 'pii-mask -k "$1" <"$2" >/dev/full' _ "$KEY" "$FIX/envelopes.ndjson"
	[ "$status" -eq 4 ]
	[[ "$output" == *"writing standard output"* ]]
}

@test "pii-mask --mode siv: deterministic masks that --reveal turns back into the canonical values" {
	pii-mask -k "$KEY" --mode siv <"$FIX/envelopes.ndjson" >"$BATS_TEST_TMPDIR/masked"
	# same rows and rejects as hmac mode, only the masks differ
	diff -u <(jq -c 'del(.row.masked_ip, .row.masked_device_id)' "$FIX/envelopes.expected") \
	    <(jq -c 'del(.row.masked_ip, .row.masked_device_id)' "$BATS_TEST_TMPDIR/masked")
	# equal values, equal masks (m30 and m31 are one address)
	[ "$(grep -c '"v6"' "$BATS_TEST_TMPDIR/masked")" -eq 2 ]
	[ "$(jq -r 'select(.row.user_id == "v6") | .row.masked_ip' "$BATS_TEST_TMPDIR/masked" | uniq | wc -l)" -eq 1 ]
	run --separate-stderr pii-mask -k "$KEY" --reveal <"$BATS_TEST_TMPDIR/masked"
	[ "$status" -eq 0 ]
	# reject lines pass through unchanged
	diff -u <(grep '"reject"' "$BATS_TEST_TMPDIR/masked") <(printf '%s\n' "$output" | grep '"reject"')
	# every revealed row has the original values back, ip canonical
	paste -d '\n' "$FIX/envelopes.ndjson" <(printf '%s\n' "$output") |
	    jq -c -n '[inputs] | _nwise(2) | select(.[1].row) | [(.[0].body | fromjson), .[1].row]' |
	    while IFS= read -r pair; do
		want_ip=$(jq -r '.[0].ip // empty' <<<"$pair")
		[ -z "$want_ip" ] || want_ip=$(canon_ip "$want_ip")
		[ "$(jq -r '.[1].ip // empty' <<<"$pair")" = "$want_ip" ]
		[ "$(jq -r '.[1].device_id // empty' <<<"$pair")" = "$(jq -r '.[0].device_id // empty' <<<"$pair")" ]
		jq -e '.[1] | has("masked_ip") | not' <<<"$pair" >/dev/null
	done
}

@test "pii-mask --reveal: bare masks, wrong keys, hmac masks and key ids" {
	body='{"user_id":"u","ip":"10.0.0.1","device_id":"593-47-5928"}'
	siv=$(pii-mask -k "$KEY" -m siv --key-id k2 <<<"$body")
	[[ "$(jq -r .row.masked_ip <<<"$siv")" == k2:* ]]
	[ "$(jq -r .row.masked_device_id <<<"$siv" | pii-mask -k "$KEY" --reveal)" = '"593-47-5928"' ]
	# the key id must match when one is given
	run --separate-stderr pii-mask -k "$KEY" --reveal --key-id k3 <<<"$siv"
	[ "$status" -eq 1 ]
	[ "$(jq -r .row.ip <<<"$output")" = null ]
	# another key cannot reveal, and says so without the value
	fa_key "$BATS_TEST_TMPDIR/other"
	run --separate-stderr pii-mask -k "$BATS_TEST_TMPDIR/other" --reveal <<<"$siv"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot reveal"* ]]
	[[ "$output$stderr" != *10.0.0.1* && "$output$stderr" != *593-47* ]]
	# hmac masks are one-way
	run --separate-stderr bash -c 'pii-mask -k "$1" <<<"$2" | pii-mask -k "$1" --reveal' _ "$KEY" "$body"
	[ "$status" -eq 1 ]
	jq -e '[.row.ip, .row.device_id] == [null, null]' <<<"$output" >/dev/null
}

@test "pii-mask: --key-id prefixes hmac masks; bad modes and ids are usage errors" {
	run pii-mask -k "$KEY" --key-id 2026-q4 <<<'{"user_id":"u","ip":"10.0.0.1"}'
	[ "$(jq -r .row.masked_ip <<<"$output")" = "2026-q4:$(fa_hmac "$KEY" 10.0.0.1)" ]
	run pii-mask -k "$KEY" --mode rot13 </dev/null
	[ "$status" -eq 2 ]
	run pii-mask -k "$KEY" --key-id 'bad id' </dev/null
	[ "$status" -eq 2 ]
	run pii-mask -k "$KEY" --key-id "$(printf 'x%.0s' $(seq 33))" </dev/null
	[ "$status" -eq 2 ]
}

@test "pii-mask --mode siv: a value too long for its 256-character column is rejected" {
	long=$(printf 'd%.0s' $(seq 176))
	printf '{"user_id":"u","device_id":"%s"}\n{"user_id":"u","device_id":"%sd"}\n' "$long" "$long" |
	    pii-mask -k "$KEY" -m siv | jq -c '[(.row // {} | .masked_device_id | if . == null then null else length end), .reject]' >"$BATS_TEST_TMPDIR/out"
	printf '%s\n' '[256,null]' '[null,"device_id: too long for a siv mask of 256 characters"]' |
	    diff -u - "$BATS_TEST_TMPDIR/out"
}

@test "pii-mask under GNU parallel --pipe: the same rows; -k keeps their order" {
	python3 "$FA_TOP/bench/gen-logins.py" 3000 >"$BATS_TEST_TMPDIR/in"
	cat "$FIX/envelopes.ndjson" >>"$BATS_TEST_TMPDIR/in"
	pii-mask -k "$KEY" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/serial"
	parallel --will-cite --pipe -k --block 64k -j 3 pii-mask -k "$KEY" \
	    <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/ordered"
	cmp "$BATS_TEST_TMPDIR/serial" "$BATS_TEST_TMPDIR/ordered"
	parallel --will-cite --pipe --block 64k -j 3 pii-mask -k "$KEY" \
	    <"$BATS_TEST_TMPDIR/in" | sort >"$BATS_TEST_TMPDIR/any"
	sort "$BATS_TEST_TMPDIR/serial" | cmp - "$BATS_TEST_TMPDIR/any"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/any")" -eq "$(wc -l <"$BATS_TEST_TMPDIR/in")" ]
}
