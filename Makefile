# Two commands for a newcomer: `make sandbox` and `make test`. Each bootstraps .venv from pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sandbox test test-full lint types pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

sandbox: $(STAMP)
	$(BIN)/avd-bot sandbox

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy avdcore commands azureops bot sim

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint types pytest

test-full: $(STAMP)
	AVD_TEST_FULL=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
