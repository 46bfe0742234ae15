# shellcheck shell=bash
# tests/services.bash - `load services` in a bats file whose tests need the
# servers: PostgreSQL and moto_server are started once for the file (unless
# tests/run already did) and what was started here is stopped after it.

setup_file() {
	. "$BATS_TEST_DIRNAME/lib.bash"
	fa_services_up
}

teardown_file() {
	fa_services_down
}
