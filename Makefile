# echoflow: the two commands are `make run` and `make test`.
CARGO ?= cargo
PORT ?= 8080
DATA_DIR ?= ./data

.PHONY: run build test lint fmt fmt-check clippy up down migrate bench bench-quick fuzz schemathesis openapi contract

## Build and start the whole platform in one process (SQLite, in-process bus) on :$(PORT).
run:
	$(CARGO) run --bin echoflow -- up --port $(PORT) --data-dir $(DATA_DIR)

build:
	$(CARGO) build --workspace

## Every test: unit, service and end-to-end (needs PostgreSQL and RabbitMQ on 127.0.0.1).
test:
	$(CARGO) build --bin echoflow
	$(CARGO) test --workspace --no-fail-fast

## Schemathesis, every check on, against `echoflow up` in a network namespace
## with loopback only (needs root); about 5 minutes. See tests/schemathesis/run.sh.
schemathesis:
	$(CARGO) build --bin echoflow
	tests/schemathesis/run.sh

## The API contract: rewrites docs/openapi.json from the code (commit the result).
openapi:
	$(CARGO) run -q --bin echoflow -- openapi --out docs/openapi.json

## The contract's checks: docs/openapi.json is what the code generates and every
## operation keeps the rules (cargo test), Redocly CLI lints it with 0 errors,
## openapi-typescript generates types from it and tsc type-checks a consumer
## (tests/contract; npm ci installs the pinned tools from package-lock.json).
contract:
	$(CARGO) test -p echoflow --bin echoflow openapi
	cd tests/contract && npm ci --no-audit --no-fund && npm run check

lint: fmt-check clippy

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Apply every schema slice's migrations to ECHOFLOW_DATABASE__URL.
migrate:
	$(CARGO) run --bin echoflow -- migrate

## The distributed stack in containers (needs a Docker engine).
up:
	docker compose up --build -d

down:
	docker compose down

## Benchmarks against the machine's floors (release build); writes bench/results.json.
bench:
	$(CARGO) build --release --bin echoflow --bin echoflow-bench
	./target/release/echoflow-bench --out bench/results.json --markdown bench/results.md

## The same in under 2 minutes. BENCH_PROFILE=debug (CI's smoke test) skips the release build.
BENCH_PROFILE ?= release
bench-quick:
ifeq ($(BENCH_PROFILE),release)
	$(CARGO) build --release --bin echoflow --bin echoflow-bench
	./target/release/echoflow-bench --quick --out bench/results-quick.json
else
	$(CARGO) build --bin echoflow --bin echoflow-bench
	./target/debug/echoflow-bench --quick --out target/bench-smoke.json
endif

## Every fuzz target (cargo fuzz, libFuzzer) for FUZZ_SECONDS each (default 60); needs cargo-fuzz.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh
