#!/usr/bin/env bats
# shellcheck disable=SC2154 # $output is set by bats' run
# compose.yaml, the Dockerfile and the Kubernetes manifests, checked where
# no container engine runs: parsed, and their wiring asserted.

setup() {
	. "$BATS_TEST_DIRNAME/lib.bash"
}

# yq-like: evaluates a Python expression over the parsed YAML file $1
# (the documents as list d, the first as c); prints its value as JSON.
y() {
	python3 -c 'import json, sys, yaml
d = list(yaml.safe_load_all(open(sys.argv[1])))
c = d[0]
print(json.dumps(eval(sys.argv[2])))' "$@"
}

@test "compose.yaml: PostgreSQL, LocalStack, the queue init step and the pipeline, wired by health" {
	f=$FA_TOP/compose.yaml
	[ "$(y "$f" 'sorted(k for k, v in c["services"].items() if "profiles" not in v)')" = \
	    '["localstack", "pipeline", "postgres", "queues"]' ]
	[ "$(y "$f" 'c["services"]["postgres"]["ports"]')" = '["5432:5432"]' ]
	[ "$(y "$f" 'c["services"]["localstack"]["ports"]')" = '["4566:4566"]' ]
	for s in postgres localstack; do
		y "$f" "c['services']['$s']['healthcheck']['test']" | grep -q .
	done
	[ "$(y "$f" 'c["services"]["queues"]["depends_on"]["localstack"]["condition"]')" = '"service_healthy"' ]
	[ "$(y "$f" 'c["services"]["pipeline"]["depends_on"]')" = \
	    '{"postgres": {"condition": "service_healthy"}, "queues": {"condition": "service_completed_successfully"}}' ]
	[ "$(y "$f" 'c["services"]["pipeline"]["build"]')" = '"."' ]
	# the key comes from a secret file, never from the environment
	[ "$(y "$f" 'c["services"]["pipeline"]["environment"]["PII_MASK_KEY_FILE"]')" = '"/run/secrets/mask_key"' ]
	[ "$(y "$f" 'c["secrets"]["mask_key"]["file"]')" = '"./mask.key"' ]
	# the queue names agree between the init step and the pipeline
	y "$f" 'c["services"]["queues"]["command"][0]' | grep -q 'login-queue-dlq'
	y "$f" 'c["services"]["pipeline"]["environment"]["SQS_QUEUE_URL"]' | grep -q '/login-queue"'
}

@test "compose.yaml: the take-home profile uses its images and the Query protocol" {
	f=$FA_TOP/compose.yaml
	[ "$(y "$f" 'sorted(k for k, v in c["services"].items() if "takehome" in v.get("profiles", []))')" = \
	    '["takehome-localstack", "takehome-pipeline", "takehome-postgres"]' ]
	[ "$(y "$f" 'c["services"]["takehome-postgres"]["image"]')" = '"fetchdocker/data-takehome-postgres"' ]
	[ "$(y "$f" 'c["services"]["takehome-localstack"]["image"]')" = '"fetchdocker/data-takehome-localstack"' ]
	y "$f" 'c["services"]["takehome-pipeline"]["command"]' | grep -q '"--protocol", "query"'
}

@test "Dockerfile: multi-stage, Debian runtime, non-root, no key inside" {
	f=$FA_TOP/Dockerfile
	[ "$(grep -c '^FROM ' "$f")" -eq 2 ]
	grep -q '^FROM debian:12-slim$' "$f"
	grep -q '^USER fetch$' "$f"
	grep -q 'useradd --system --uid 10001' "$f"
	# (a bare "! cmd" cannot fail a bats test: errexit ignores it)
	run grep -v '^#' "$f"
	[[ "$output" != *mask.key* && "$output" != *PII_MASK_KEY* ]]
	grep -q '^mask.key$' "$FA_TOP/.dockerignore"
}

@test "Kubernetes: a Deployment of non-root pipelines, the key from a Secret, scaled by KEDA on queue length" {
	d=$FA_TOP/deploy/kubernetes/deployment.yaml
	k=$FA_TOP/deploy/kubernetes/scaledobject.yaml
	[ "$(y "$d" '[x["kind"] for x in d]')" = '["Deployment", "ServiceAccount"]' ]
	[ "$(y "$d" 'c["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]')" = true ]
	[ "$(y "$d" 'c["spec"]["template"]["spec"]["volumes"][0]["secret"]["defaultMode"]')" = 256 ]
	[ "$(y "$k" '[x["kind"] for x in d]')" = '["ScaledObject", "TriggerAuthentication"]' ]
	[ "$(y "$k" 'c["spec"]["scaleTargetRef"]["name"]')" = "$(y "$d" 'c["metadata"]["name"]')" ]
	[ "$(y "$k" 'c["spec"]["triggers"][0]["type"]')" = '"aws-sqs-queue"' ]
	# the pod runs as its ServiceAccount, which names an IRSA role
	[ "$(y "$d" 'c["spec"]["template"]["spec"]["serviceAccountName"] == d[1]["metadata"]["name"]')" = true ]
	y "$d" 'd[1]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]' | grep -q '^"arn:aws:iam::[0-9]\{12\}:role/'
}

@test "Kubernetes: a daily CronJob prunes the ledger with the Deployment's database settings" {
	d=$FA_TOP/deploy/kubernetes/deployment.yaml
	p=$FA_TOP/deploy/kubernetes/prune-ledger.yaml
	[ "$(y "$p" 'c["kind"]')" = '"CronJob"' ]
	[ "$(y "$p" 'c["spec"]["concurrencyPolicy"]')" = '"Forbid"' ]
	job=c'["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]'
	[ "$(y "$p" "$job"'["args"]')" = '["pg-load", "--prune-ledger", "15"]' ]
	# the same PG* environment as the pipeline's
	[ "$(y "$p" "sorted(e['name'] for e in ${job}['env'])")" = \
	    "$(y "$d" "sorted(e['name'] for e in c['spec']['template']['spec']['containers'][0]['env'] if e['name'].startswith('PG'))")" ]
	# and the option it runs exists
	"$FA_TOP/bin/pg-load" --help | grep -q -- '--prune-ledger DAYS'
}

@test "containers: the image runs under tini, compose sets init and a grace period, the pod's grace period fits" {
	grep -q '^ENTRYPOINT \["/usr/bin/tini", "--"\]$' "$FA_TOP/Dockerfile"
	grep -q 'tini' <(sed -n '/^FROM debian:12-slim$/,$p' "$FA_TOP/Dockerfile")
	c=$FA_TOP/compose.yaml
	[ "$(y "$c" 'c["services"]["pipeline"]["init"]')" = true ]
	[ "$(y "$c" 'c["services"]["pipeline"]["stop_grace_period"]')" = '"30s"' ]
	d=$FA_TOP/deploy/kubernetes/deployment.yaml
	[ "$(y "$d" 'c["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]')" -ge 30 ]
}

@test "health: the pod's probes and compose's healthcheck read the stages' health files, and the probe tells live from stale" {
	d=$FA_TOP/deploy/kubernetes/deployment.yaml
	c=$FA_TOP/compose.yaml
	ctr='c["spec"]["template"]["spec"]["containers"][0]'
	[ "$(y "$d" "$ctr"'["args"][-2:]')" = '["--health-file", "/run/fa/health"]' ]
	[ "$(y "$d" "[v['mountPath'] for v in ${ctr}['volumeMounts'] if v['name'] == 'health']")" = '["/run/fa"]' ]
	probe=$(y "$d" "$ctr"'["livenessProbe"]["exec"]["command"][2]' | jq -r .)
	[ "$(y "$d" "$ctr"'["readinessProbe"]["exec"]["command"][2]' | jq -r .)" = "$probe" ]
	# compose: the same test, on its own directory ($$ is compose's $)
	[ "$(y "$c" 'c["services"]["pipeline"]["healthcheck"]["test"][3]' | jq -r . |
	    sed 's/\$\$/$/; s#/tmp/fa#/run/fa#')" = "$probe" ]
	[ "$(y "$c" 'c["services"]["pipeline"]["command"][-2:]')" = '["--health-file", "/tmp/fa/health"]' ]
	# the probe itself: four fresh files pass; one stale, or one missing, fails
	dir=$BATS_TEST_TMPDIR/run/fa
	mkdir -p "$dir"
	touch "$dir"/health.{sqs-recv,pii-mask,pg-load,sqs-ack}
	sh -c "${probe//\/run\/fa/$dir}"
	touch -d '-1 minute' "$dir/health.pg-load"
	run sh -c "${probe//\/run\/fa/$dir}"
	[ "$status" -ne 0 ]
	rm "$dir/health.pg-load"
	run sh -c "${probe//\/run\/fa/$dir}"
	[ "$status" -ne 0 ]
}
