# Two entry points (see README): `make demo` runs the main job, `make test` runs the tests.
# Both create .venv and install the project into it first: `make demo` the product only, `make test`
# and `make install` the product with the dev tools (pytest, ruff, mypy, ...).
# `make demo PORT=8080` serves on another port.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8000
# test processes (pytest-xdist; each test file runs whole in one of them): `make test TEST_WORKERS=1` for one
TEST_WORKERS ?= 2
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
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
