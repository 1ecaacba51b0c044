# The two commands a newcomer needs: `make run` and `make test`. Everything else is listed by `make help`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Every installable package of the repository, shared plumbing first.
PACKAGES := $(dir $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml devstack/pyproject.toml))
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: help install run test test-fast bench-bus bench-documents bench-gateway bench-login definitions contracts browser wrk clean

help:
	@echo "make run              start the whole portal on embedded defaults at http://127.0.0.1:8000"
	@echo "make test             every test (unit, integration on RabbitMQ/PostgreSQL, contract, browser)"
	@echo "make test-fast        unit tests only (no servers, no browser)"
	@echo "make bench-bus        outbox -> relay -> RabbitMQ -> consumer throughput vs raw pika"
	@echo "make bench-documents  document ingestion throughput vs raw boto3 CopyObject"
	@echo "make bench-gateway    logged-in /home vs a bare Flask page (wrk), PostgreSQL+RabbitMQ and embedded"
	@echo "make bench-login      a login (known, unknown, locked, pending one-time password) vs one argon2 verification"
	@echo "make definitions      export contracts/topology.json as deploy/rabbitmq/definitions.json (+ permissions.json)"
	@echo "make contracts        export each service's OpenAPI document to contracts/http/"
	@echo "make clean            remove the virtual environment and var/"

install: $(STAMP)

# The portal's own packages (enough for `make run`).
$(STAMP): $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml devstack/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "Python's venv module is missing: sudo apt-get install python3-venv"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

# Test tooling on top (pytest, Playwright's driver, the compose binary, …).
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

run: install
	$(PY) -m portal_devstack

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

test: $(DEV_STAMP) browser
	$(BIN)/pytest -q

test-fast: $(DEV_STAMP)
	$(BIN)/pytest -q -m "not broker and not database and not browser"

bench-bus: $(DEV_STAMP)
	$(PY) bench/bench_bus.py

bench-documents: $(DEV_STAMP)
	$(PY) bench/bench_documents.py

wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); \
	  else echo "bench-gateway needs Debian's wrk: sudo apt-get install wrk"; exit 1; fi; }

bench-gateway: $(DEV_STAMP) wrk
	$(PY) bench/bench_gateway.py

bench-login: $(DEV_STAMP)
	$(PY) bench/bench_login.py

definitions: install
	$(PY) -m portal_common.topology_export > deploy/rabbitmq/definitions.json
	$(PY) -m portal_common.topology_export --permissions > deploy/rabbitmq/permissions.json

contracts: install
	$(PY) -m portal_devstack.openapi

clean:
	rm -rf $(VENV) var
