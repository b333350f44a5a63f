# Everything a fresh machine needs is made here from python3 alone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint fuzz bench bench-isolation bench-engine openapi migration clean

$(BIN)/mixpeek-mock: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

## Set up, migrate the default SQLite file, bootstrap a key and serve on 127.0.0.1:8000.
run: $(BIN)/mixpeek-mock
	$(BIN)/mixpeek-mock serve --host $(HOST) --port $(PORT)

## Set up and run every test, the lint and the type check.
test: $(BIN)/mixpeek-mock lint
	$(BIN)/python -m pytest

lint: $(BIN)/mixpeek-mock
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Fuzz the running server from openapi.json for longer than the test suite does.
fuzz: $(BIN)/mixpeek-mock
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-500} $(BIN)/python -m pytest tests/test_fuzz.py -p no:cacheprovider

## Measure throughput, latency, start time and memory against the ceiling and Prism.
bench: $(BIN)/mixpeek-mock
	$(BIN)/python bench/run.py

## Latency of health and a sync PATCH while one client sends the worst requests (bench/isolation.py).
bench-isolation: $(BIN)/mixpeek-mock
	$(BIN)/python bench/isolation.py

## The sync engine against moto: files/s against a boto3 loop, GET p99 during runs, RSS.
bench-engine: $(BIN)/mixpeek-mock
	$(BIN)/python bench/engine.py

## Regenerate the committed openapi.json from the app.
openapi: $(BIN)/mixpeek-mock
	$(BIN)/python -m app.openapi > openapi.json

## Write a new migration from the models: make migration MESSAGE="add a column"
migration: $(BIN)/mixpeek-mock
	$(BIN)/alembic revision --autogenerate -m "$(MESSAGE)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
