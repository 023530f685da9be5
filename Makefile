# echoflow: the two commands are `make run` and `make test`.
CARGO ?= cargo
PORT ?= 8080
DATA_DIR ?= ./data

.PHONY: run build test lint fmt fmt-check clippy up down migrate

## Build and start the whole platform in one process (SQLite, in-process bus) on :$(PORT).
run:
	$(CARGO) run --bin echoflow -- up --port $(PORT) --data-dir $(DATA_DIR)

build:
	$(CARGO) build --workspace

## Every test: unit, service and end-to-end (needs PostgreSQL and RabbitMQ on 127.0.0.1).
test:
	$(CARGO) build --bin echoflow
	$(CARGO) test --workspace --no-fail-fast

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
