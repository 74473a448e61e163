# redis-cdc — build, test and demo.
#   make run    install what is missing (Debian, as root), build, start a demo MariaDB + Redis
#   make test   install what is missing, build the module, run unit and integration tests
#   make lint   rustfmt + clippy (warnings are errors)

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
# The integration tests start MariaDB and redis-server instances; two at a time fits 2 cores.
TEST_THREADS ?= 2

.PHONY: all deps build test lint run bench clean

all: build

deps:
	@scripts/deps.sh

build:
	$(CARGO) build --release

test: deps
	$(CARGO) build --release
	$(CARGO) test --release --workspace -- --test-threads=$(TEST_THREADS)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

run: deps build
	scripts/demo.sh

bench:
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; \
	elif [ -f scripts/bench.sh ]; then bash scripts/bench.sh; \
	else echo "bench: not yet (scripts/bench.sh does not exist)"; fi

clean:
	$(CARGO) clean
	rm -rf .tmp
