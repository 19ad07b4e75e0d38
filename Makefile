# Two entry points (see README): `make demo` runs the main job, `make test` runs the tests.
# Both create .venv and install the project into it first: `make demo` the product only, `make test`
# and `make install` the product with the dev tools (pytest, ruff, mypy, ...).
# `make demo PORT=8080` serves on another port.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8000
# test processes (pytest-xdist; each test file runs whole in one of them): `make test TEST_WORKERS=1` for one.
# The schemathesis tests run afterwards in this process: under xdist each of their functions would run
# as one test instead of one per API operation (tests/test_api_schemathesis.py refuses to).
TEST_WORKERS ?= 2
SCHEMATHESIS = tests/test_api_schemathesis.py
PYTEST = $(BIN)/python -m pytest -q
STAMP     = $(VENV)/.installed
DEV_STAMP = $(VENV)/.installed-dev
# quiet installs: no progress bars, no "already satisfied" lines, no upgrade nag
PIP = $(BIN)/pip install --quiet --disable-pip-version-check --no-input

.PHONY: install demo test test-fast lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(STAMP) $(DEV_STAMP)

install: $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/village5g demo --serve --port $(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(DEV_STAMP) lint
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile --ignore=$(SCHEMATHESIS)
	$(PYTEST) $(SCHEMATHESIS)

test-fast: $(DEV_STAMP)
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile --ignore=$(SCHEMATHESIS) -m "not slow"
	$(PYTEST) $(SCHEMATHESIS) -m "not slow"

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
