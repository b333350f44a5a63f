# Everything a fresh machine needs is made here from python3 alone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint fuzz bench bench-startup bench-isolation bench-engine bench-postgres bench-patch-cost bench-journal openapi schema migration lock clean

# Dependencies come from the lock files, pinned with hashes (see "Reproducible installs" in
# README.md): requirements.lock for the server, requirements-test.lock for it and the test
# tools. The project itself is then installed on top, without resolving anything again.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

## What the server needs, and nothing else.
$(VENV)/.server-installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

## The server and the test tools (what `make test`, `lint`, `fuzz` and `bench` use).
$(BIN)/mixpeek-mock: requirements-test.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-test.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(VENV)/.server-installed $@

## Set up, migrate the default SQLite file, bootstrap a key and serve. Where it listens comes
## from the environment: MIXPEEK_MOCK_HOST (default 127.0.0.1) and PORT (default 8000).
run: $(VENV)/.server-installed
	$(BIN)/mixpeek-mock serve

## Set up and run every test, the lint and the type check.
test: $(BIN)/mixpeek-mock lint
	$(BIN)/python -m pytest -n auto

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

## First start (new database) and restart: time to the first 200 and memory (bench/startup.py).
bench-startup: $(BIN)/mixpeek-mock
	$(BIN)/python bench/startup.py

## Latency of health and a sync PATCH while one client sends the worst requests (bench/isolation.py).
bench-isolation: $(BIN)/mixpeek-mock
	$(BIN)/python bench/isolation.py

## The sync engine against moto: files/s against a boto3 loop, GET p99 during runs, RSS.
bench-engine: $(BIN)/mixpeek-mock
	$(BIN)/python bench/engine.py

## PATCH at 32 connections: SQLite, PostgreSQL with one and two processes (bench/backends.py).
bench-postgres: $(BIN)/mixpeek-mock
	$(BIN)/python bench/backends.py

## CPU per PATCH, the server's and PostgreSQL's, and the machine's stolen time (bench/patch_cost.py).
bench-patch-cost: $(BIN)/mixpeek-mock
	$(BIN)/python bench/patch_cost.py

## PATCH with the request journal off and on (bench/journal.py).
bench-journal: $(BIN)/mixpeek-mock
	$(BIN)/python bench/journal.py

## Regenerate the committed openapi.json from the app.
openapi: $(BIN)/mixpeek-mock
	$(BIN)/python -m app.openapi > openapi.json

## Regenerate the committed schema snapshot (app/db/schema.sqlite.sql) from the migrations: what
## a new database is made from without running Alembic (see app/db/schema.py). After a migration.
schema: $(BIN)/mixpeek-mock
	$(BIN)/python -m app.db.schema > app/db/schema.sqlite.sql

## Write a new migration from the models: make migration MESSAGE="add a column"
migration: $(BIN)/mixpeek-mock
	$(BIN)/alembic revision --autogenerate -m "$(MESSAGE)"

## Compile the lock files again from pyproject.toml (after changing a dependency there).
lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet uv
	$(VENV)-lock/bin/uv pip compile pyproject.toml --universal --generate-hashes \
	  --python-version 3.11 --quiet -o requirements.lock
	$(VENV)-lock/bin/uv pip compile pyproject.toml --extra test --universal --generate-hashes \
	  --python-version 3.11 --quiet -o requirements-test.lock

clean:
	rm -rf $(VENV) $(VENV)-lock .pytest_cache .mypy_cache .ruff_cache
