# Only python3 and make are assumed; everything else goes into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint clean bench current-schema

$(BIN)/campaign-runner: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

venv: $(BIN)/campaign-runner

demo: venv
	$(BIN)/campaign-runner demo

# The figures of docs/benchmarks.md, measured again and written there (about two minutes).
bench: venv
	$(BIN)/python -m bench

# sql/postgres/current_schema.sql written again from the migrations (after adding or
# changing one); needs a Postgres server (PG_ADMIN_URL, default the local one) and pg_dump.
current-schema: venv
	$(BIN)/python scripts/current_schema.py

# Three test processes on two cores: most tests wait on subprocesses, servers and sleeps
# rather than the CPU (measured: 5:46 in one process, 2:43 in three); each process has
# databases of its own.
TEST_WORKERS ?= 3

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) campaign-runner.db* campaign-runner.lock campaign-runner.heartbeat outbox
