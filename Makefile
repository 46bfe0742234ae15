# fetch-awards - see README.md.  GNU make.
SHELL := /bin/bash

CFLAGS ?= -O2 -g
PG_INCLUDE := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-Icommon -I$(PG_INCLUDE) -MMD -MP

VERSION ?= 0.2.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

TOOLS := sqs-recv pii-mask pg-load sqs-ack
BINS := $(TOOLS:%=bin/%)
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:.c=.o)
MANS := $(TOOLS:%=man/%.1) man/pipeline.sh.1
MANS5 := man/fetch-awards-ndjson.5
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=tests/unit/bin/%)

# Each tool links only what it needs; the archive leaves the rest out.
LIBS_sqs-recv := -lcurl -lyajl -lexpat -lcrypto -pthread
LIBS_sqs-ack := -lcurl -lyajl -lexpat -lcrypto -pthread
LIBS_pii-mask := -lyajl -lcrypto
LIBS_pg-load := -lpq -lyajl -lcrypto -pthread
UNIT_LIBS := -lcurl -lyajl -lexpat -lcrypto -lpq -pthread

all: $(BINS) $(MANS) $(MANS5)

bin/%: %/main.o common/libcommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< common/libcommon.a $(LIBS_$*) $(LDLIBS)

# One EXIT STATUS section, one text for the options every tool has and
# one for the AWS environment of the SQS tools, spliced into the pages.
man/%.1: man/%.1.in man/exit-status.mdoc man/stats-options.mdoc \
    man/aws-environment.mdoc
	sed -e '/^@EXIT_STATUS@$$/{r man/exit-status.mdoc' -e 'd;}' \
	    -e '/^@STATS_OPTIONS@$$/{r man/stats-options.mdoc' -e 'd;}' \
	    -e '/^@AWS_ENVIRONMENT@$$/{r man/aws-environment.mdoc' -e 'd;}' $< > $@

man/%.5: man/%.5.in
	cp $< $@

# Only tool.c and stats.c show it: a new version rebuilds two files.
common/tool.o common/stats.o: override CFLAGS += -DFA_VERSION='"$(VERSION)"'

common/libcommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^

tests/unit/bin/%: tests/unit/%.c common/libcommon.a
	@mkdir -p tests/unit/bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< common/libcommon.a $(UNIT_LIBS) $(LDLIBS)

# libFuzzer harnesses (clang): each parser, built with ASan and UBSan.
FUZZERS := $(patsubst fuzz/%.c,fuzz/bin/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Icommon -I$(PG_INCLUDE) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 10

fuzz/bin/%: fuzz/%.c $(COMMON_SRC)
	@mkdir -p fuzz/bin
	clang $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRC) $(UNIT_LIBS)

# A bounded run of every fuzzer from its corpus in fuzz/corpus (new finds
# go to a scratch directory, not into the tree).  Longer: FUZZ_SECONDS=600.
fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
		name=$${f##*/fuzz_}; scratch=$$(mktemp -d); \
		echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
		    $$scratch fuzz/corpus/$$name 2>&1 | grep -E '^stat::number_of_executed_units|ERROR|SUMMARY' ; \
		status=$${PIPESTATUS[0]}; rm -rf $$scratch; \
		[ "$$status" -eq 0 ] || exit 1; \
	done

deps:
	@scripts/install-deps

# The write-failure shim the fault tests preload.
tests/inject_errors.so: tests/inject_errors.c
	$(CC) -O2 -g -fPIC -shared -Wall -Wextra -Werror -o $@ $< -ldl

unit: $(UNIT_BINS) tests/inject_errors.so
	@for t in $(UNIT_BINS); do $$t || exit 1; done

# The whole suite; installs what it needs first, like .ci/run.
check: deps
	$(MAKE) all unit lint
	tests/run
	$(MAKE) fuzz FUZZ_SECONDS=5

demo: deps
	$(MAKE) all
	scripts/demo

# Same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	$(MAKE) clean
	$(MAKE) CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all unit
	ASAN_OPTIONS=detect_leaks=1 FA_SANITIZED=1 tests/run

# Every benchmark, one table of figures (not a test: nothing fails on speed).
bench: all
	bench/run

# The whole suite with every tool run under valgrind (memcheck); each run
# logs to a file, and the verdict is on those logs, so a test that only
# failed from valgrind's slowness is told apart from a memory error.
# Not in make check (it takes about twenty minutes); .ci/run runs it after.
valgrind: all
	@rm -rf tests/valgrind && mkdir -p tests/valgrind/bin tests/valgrind/logs
	@for t in $(TOOLS); do \
		printf '#!/bin/sh\nexec valgrind -q --leak-check=full --errors-for-leak-kinds=definite --log-file=%s/tests/valgrind/logs/%s.%%p "%s/bin/%s" "$$@"\n' \
		    "$$PWD" "$$t" "$$PWD" "$$t" >tests/valgrind/bin/$$t; \
		chmod +x tests/valgrind/bin/$$t; \
	done
	-FETCH_AWARDS_BIN=$$PWD/tests/valgrind/bin FA_SANITIZED=1 tests/run
	@n=$$(ls tests/valgrind/logs | wc -l); \
	bad=$$(grep -l '==[0-9]*== [A-Z]' tests/valgrind/logs/* 2>/dev/null | wc -l); \
	echo "valgrind: $$n tool runs, $$bad with errors"; \
	[ "$$bad" -eq 0 ] || { grep -h -A12 '==[0-9]*== [A-Z]' tests/valgrind/logs/* | head -80; exit 1; }

lint: $(COMMON_OBJ)
	shellcheck -x pipeline.sh scripts/install-deps scripts/demo scripts/unused-functions \
	    tests/run tests/lib.bash .ci/run bench/run bench/*.sh
	scripts/unused-functions
	shellcheck -x -S warning tests/*.bats

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BINS) pipeline.sh $(DESTDIR)$(BINDIR)/
	install -m 644 $(MANS) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MANS5) $(DESTDIR)$(MANDIR)/man5/

clean:
	rm -rf bin tests/unit/bin fuzz/bin tests/inject_errors.so tests/valgrind common/libcommon.a */*.o */*.d tests/unit/*.d $(MANS) $(MANS5)

.PHONY: all deps unit check demo asan bench fuzz valgrind lint install clean
.SECONDARY: $(TOOLS:%=%/main.o)

-include $(COMMON_SRC:.c=.d) $(TOOLS:%=%/main.d)
