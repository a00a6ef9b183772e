# Two commands for a newcomer: `make sandbox` and `make test`. Each bootstraps .venv from requirements.lock
# (every dependency pinned, with hashes; `make lock` regenerates it from pyproject.toml's ranges).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: sandbox test test-full lint types pytest bench clean lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Re-resolve every dependency within pyproject.toml's ranges (newest allowed), with hashes; then run `make test`.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --upgrade --extra dev --all-build-deps --allow-unsafe --generate-hashes \
		--strip-extras --no-emit-find-links --no-emit-index-url --no-emit-trusted-host -o $(LOCK) pyproject.toml

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
