# Two-command start: `make demo` and `make test`. Everything is installed from uv.lock.
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1
export UV_LINK_MODE := copy

.PHONY: setup demo test soak ui lint bench bench-soak clean chromium psql jdbc serve-sql server-up server-down

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (this machine), every process
# otherwise compiles pandas, pyarrow, ... again (lakehouse collect --help: 2.9 s before, 1.2 s after)
$(BIN)/lakehouse: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PY)
	@touch $(BIN)/lakehouse

setup: $(BIN)/lakehouse

demo: setup
	$(BIN)/lakehouse demo

# Two pytest workers (pytest-xdist), one test file per worker at a time: much of the suite waits on
# servers and child processes, so two workers finish well before one on a 2-core machine.
TEST_WORKERS ?= 2
test: setup psql jdbc
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# Long randomized runs: >= 20 kill -9 trials that must converge (tests marked `soak`).
soak: setup chromium
	$(BIN)/pytest -m soak -s -p no:cacheprovider

# The SQL endpoint's end-to-end tests drive Debian's psql (postgresql-client) as analysts would.
psql:
	@command -v psql >/dev/null || (apt-get update && apt-get install -y postgresql-client)

# ... and the JDBC driver (Debian's pgjdbc, as DBeaver and other JDBC tools load it) from a small Java program.
jdbc:
	@(command -v javac >/dev/null && test -f /usr/share/java/postgresql.jar) || \
		(apt-get update && apt-get install -y default-jdk-headless libpostgresql-jdbc-java)

# The browser test drives Debian's Chromium (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ui: setup
	$(BIN)/lakehouse ui

# The server profile's processes (object store, LAKEHOUSE_WORKERS Celery workers, webserver, daemon, SQL endpoint on 5433) on loopback; PIDs in $LAKEHOUSE_HOME/run
server-up: setup
	LAKEHOUSE_PROFILE=server $(BIN)/lakehouse server up

server-down: setup
	LAKEHOUSE_PROFILE=server $(BIN)/lakehouse server down

# Engines, then the collector (throughput, latency, a short RSS soak: COLLECTOR_SOAK_MINUTES).
COLLECTOR_SOAK_MINUTES ?= 2
bench: setup
	$(BIN)/lakehouse bench --collector-minutes $(COLLECTOR_SOAK_MINUTES)

# The collector's 10-minute soak alone (RSS flat, sustained throughput): bench/results/collector_soak.{json,md}
bench-soak: setup
	$(BIN)/python -m bench.collector --parts soak --soak-minutes 10 --out bench/results/collector_soak.json


serve-sql: setup  # PostgreSQL-wire endpoint on 127.0.0.1:5433 (users: lakehouse users add NAME)
	$(BIN)/lakehouse serve-sql

clean:
	rm -rf .lakehouse $(VENV) $(TOOLS)
