# The two commands: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOG_DIR ?= .local/logs
WITH_EMULATORS := $(BIN)/python -m template.local.emulators run --log-dir $(LOG_DIR) --
# `make lookup USER=<id>`: only a USER given on the command line counts (not the login name).
LOOKUP_USER := $(if $(filter command line,$(origin USER)),$(USER),)

.PHONY: help install test unit integration lint demo bench lookup lock clean

help:
	@echo "make demo         run the whole system on the local emulators"
	@echo "make test         the whole test suite (unit + integration, emulators started here)"
	@echo "make unit         unit tests only (seconds, no emulators)"
	@echo "make integration  integration tests only (emulators started here)"
	@echo "make lint         ruff"
	@echo "make bench        benchmarks against their baselines (~10 min); writes benchmarks/RESULTS.md"
	@echo "make lookup USER=<user_id>   a user's latest transactions"

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(WITH_EMULATORS) $(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP)
	$(WITH_EMULATORS) $(BIN)/pytest -m integration

lint: $(STAMP)
	$(BIN)/ruff check .

demo: $(STAMP)
	$(BIN)/python -m template.local.demo --log-dir $(LOG_DIR)

# `make bench BENCH_ARGS="--only sink --rounds 5"` to narrow it; see `python -m benchmarks --help`.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --log-dir $(LOG_DIR)/bench $(BENCH_ARGS)

lookup: $(STAMP)
	@test -n "$(LOOKUP_USER)" || { echo "usage: make lookup USER=<user_id> [N=5] (with the emulators' variables set)" >&2; exit 2; }
	$(BIN)/python -m template.lookup "$(LOOKUP_USER)" --limit $(or $(N),5)

lock: $(STAMP)
	{ echo "# Hash-locked runtime dependencies of the template image, generated from pyproject.toml by 'make lock'"; \
	  echo "# (uv pip compile --generate-hashes, Python 3.11, linux x86_64). Do not edit by hand."; \
	  $(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --no-header; } > requirements.lock
	$(BIN)/uv pip compile producer/requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 -o producer/requirements.lock

clean:
	rm -rf $(VENV) .local build *.egg-info .pytest_cache .ruff_cache
