# Two commands on a fresh machine: `make run` and `make test`. Everything they need is
# installed here, from the package registries only.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
# make run PORT=8001 (or PIPELINEJOBS_PORT=8001 make run); unset: 8000. PORT=0 takes a free one.
PORT ?=

.PHONY: run test lint typecheck unit proto bench services clean install

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install and start the whole embedded system (gateway, four actors, local compute)
run: install
	$(VENV)/bin/pipelinejobs up $(if $(PORT),--port $(PORT))

## test: install, start what the tests need (RabbitMQ), lint, type-check and run every test
test: install services lint typecheck
	scripts/run-tests.sh
	scripts/newcomer-path.sh $(VENV)

## services: start (or install and start) the RabbitMQ broker the bus tests talk to
services:
	scripts/ensure-rabbitmq.sh

lint: install
	$(VENV)/bin/ruff check services tests
	$(VENV)/bin/ruff format --check services tests

typecheck: install
	$(VENV)/bin/mypy

unit: install
	scripts/run-tests.sh tests/unit -q

## proto: regenerate the protobuf Python code from proto/ (a test fails when it is stale)
proto: install
	$(PY) -m pipelinejobs.messages.protogen

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## bench: every tests/benchmarks/bench_*.py side by side in one run (BENCH_QUICK=1: a smoke run);
## the report goes to tests/benchmarks/results/report.md and report.json
bench: install services $(BENCH_STAMP)
	$(PY) tests/benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
