# The two commands: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOG_DIR ?= .local/logs
WITH_EMULATORS := $(BIN)/python -m transactions_tools.local.emulators run --log-dir $(LOG_DIR) --
# What `make up` left running: the variables that point the clients at its emulators.
STACK_ENV := .local/stack/env
WITH_STACK := $(if $(wildcard $(STACK_ENV)),. ./$(STACK_ENV) &&,)
# `make lookup USER=<id>`: only a USER given on the command line counts (not the login name).
LOOKUP_USER := $(if $(filter command line,$(origin USER)),$(USER),)

.PHONY: help install test unit integration lint format demo up down chaos bench lookup deadletters lock metadata clean

help:
	@echo "make demo         run the whole system on the local emulators"
	@echo "make test         the whole test suite (lint, unit, integration; emulators started here)"
	@echo "make unit         unit tests only (well under a minute, no emulators)"
	@echo "make integration  integration tests only (emulators started here)"
	@echo "make lint         ruff check, ruff format --check and mypy"
	@echo "make format       ruff format, and the fixable ruff checks"
	@echo "make up / down    leave the local stack running in the background / stop it"
	@echo "make chaos        the streaming job through a fault-injecting proxy (a busy Bigtable); prints what was lost: nothing"
	@echo "make bench        benchmarks against their baselines, and the cost curve (~10 min); writes benchmarks/RESULTS.md"
	@echo "make lookup USER=<user_id>   a user's latest transactions (from the stack make up started)"
	@echo "make deadletters  the dead letters of that stack (transacoes-deadletters inspect)"
	@echo "make metadata     write metadata.json and metadata-backfill.json from the parameter table"
	@echo "make lock         re-lock requirements.lock, producer/ and deploy/infra/ requirements (hashes)"

install: $(STAMP)

# Hash-locked, as in Cloud Build: every dependency from requirements-dev.lock, then the project
# itself, editable and without dependencies (they are all in the lock).
$(STAMP): pyproject.toml requirements-dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Parallel workers of the integration tests: they mostly wait (streaming jobs, firings, emulators),
# so more workers than cores pay off; each test uses names of its own on the shared emulators
# (tests/conftest.py says which tests share a worker).
WORKERS ?= 6
# `make test` runs three stages and prints each one's time: lint and types, unit, integration.
STAGE = t=$$(date +%s); echo "== stage $(1)"; $(2) || exit $$?; echo "== stage $(1): $$(( $$(date +%s) - t )) s"

test: $(STAMP)
	@$(call STAGE,lint and types,$(MAKE) --no-print-directory lint)
	@$(call STAGE,unit,$(BIN)/pytest -m "not integration" -n 2 -q)
	@$(call STAGE,integration,$(WITH_EMULATORS) $(BIN)/pytest -m integration -n $(WORKERS) --dist loadgroup --durations=15)

unit: $(STAMP)
	$(BIN)/pytest -m "not integration" -n 2 -q

integration: $(STAMP)
	$(WITH_EMULATORS) $(BIN)/pytest -m integration -n $(WORKERS) --dist loadgroup --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP)
	$(BIN)/python -m transactions_tools.local.demo --log-dir $(LOG_DIR)

up: $(STAMP)
	$(BIN)/python -m transactions_tools.local.stack up --log-dir $(LOG_DIR)/stack

down: $(STAMP)
	$(BIN)/python -m transactions_tools.local.stack down

# `make chaos CHAOS_ARGS="--messages 2000 --fault-seconds 60"`; see `python -m transactions_tools.local.chaos --help`.
chaos: $(STAMP)
	$(BIN)/python -m transactions_tools.local.chaos --log-dir $(LOG_DIR)/chaos $(CHAOS_ARGS)

# `make bench BENCH_ARGS="--only sink --rounds 5"` to narrow it; see `python -m benchmarks --help`.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --log-dir $(LOG_DIR)/bench $(BENCH_ARGS)

lookup: $(STAMP)
	@test -n "$(LOOKUP_USER)" || { echo "usage: make lookup USER=<user_id> [N=5] (after make up, or with the emulators' variables set)" >&2; exit 2; }
	$(WITH_STACK) $(BIN)/transacoes-lookup "$(LOOKUP_USER)" --limit $(or $(N),5)

# The dead letters of the stack `make up` left running (counts, reasons, samples; consumes nothing).
deadletters: $(STAMP)
	$(WITH_STACK) $(BIN)/transacoes-deadletters inspect --subscription projects/local-project/subscriptions/transacoes-dead-letter-sub

# Hash-locked: the template image's runtime dependencies plus its build backend (setuptools,
# installed from the lock so the image builds the project with --no-build-isolation), and the
# producer image's dependencies, and deploy/infra's Pulumi program (for the Pulumi CLI); and
# requirements-dev.lock, what CI's lint and unit tests run with (.[dev,infra]) at the image's pins,
# which Cloud Build's unit-tests step installs alone (cloudbuild.yaml).
# Existing pins are kept unless pyproject.toml needs others.
lock: $(STAMP)
	mkdir -p .local
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" > .local/build-requirements.in
	$(BIN)/uv pip compile pyproject.toml .local/build-requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o requirements.lock
	$(BIN)/uv pip compile producer/requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o producer/requirements.lock
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['infra'], sep='\n')" > .local/infra-requirements.in
	$(BIN)/uv pip compile .local/infra-requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o deploy/infra/requirements.txt
	$(BIN)/uv pip compile pyproject.toml .local/build-requirements.in --extra dev --extra infra \
	  --constraint requirements.lock --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o requirements-dev.lock

# The two templates' launch forms, from the parameter table (a test fails when they are stale).
metadata: $(STAMP)
	$(BIN)/transacoes-template-metadata --write

clean:
	rm -rf $(VENV) .local build *.egg-info .pytest_cache .ruff_cache
