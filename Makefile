# The two quick-start commands: `make run` (main job) and `make test` (test suite).
# Each does its own idempotent set-up first.
PY ?= python
.PHONY: setup run test test-all bench

setup:
	./scripts/setup.sh

run: setup
	panacea run

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q --run-slow

bench: setup
	$(PY) scripts/bench_golden.py
