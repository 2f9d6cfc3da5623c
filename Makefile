# certadmin — `make run` starts the demo, `make test` runs everything CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12: on PATH, else pyenv's, else whatever python3 is (the install step checks it).
PYTHON ?= $(shell command -v python3.12 || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1 | grep . || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
EMULATOR_PORT ?= 8001
# Debian packages the tests need: a browser (and a CJK font for its screenshots), the
# production database and cache, openssl for checking downloads, gettext for the catalogs,
# prometheus for promtool (checks the alert rules in deploy/prometheus/).
TEST_APT_PACKAGES := chromium fonts-wqy-microhei redis-server postgresql openssl gettext prometheus

.PHONY: help install run serve test test-quick lint format lock messages system-deps services bench clean

help:
	@echo "make run    - set up and start the demo dashboard on http://$(HOST):$(PORT)"
	@echo "make serve  - run production from the environment (README, Deployment): gunicorn + task workers + scheduler"
	@echo "make test-quick - the tests that need no browser, PostgreSQL or Redis (SQLite, a few minutes)"
	@echo "make test   - set up and run ruff and the whole test suite"
	@echo "make lint / format / messages / lock / bench / clean"

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "certadmin needs Python 3.12, found " + sys.version' \
		|| { echo "Install Python 3.12 (see .python-version)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# --no-compile: Python compiles a module when it is first imported; compiling every file of
	@# every package up front took a third of a clean clone's install.
	$(PY) -m pip install --quiet --no-compile --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

install: $(VENV)/.installed

messages: install
	@if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v 0; \
	else echo "gettext's msgfmt is missing: using the committed .mo catalogs"; fi

# The demo watches its small products on its own (docs/fleet-watch.md): a full sync every 5
# minutes, the scheduler looking every 5 s, and a route that sends every finding to the demo
# inbox (notify_demo_seed, which also runs the first syncs at once).
DEMO_SYNC_SCHEDULES ?= default:a1Demo7Sh2x=*/5 * * * *|default:a1Ent0Prd9k:iot-06z00demo0ent=*/5 * * * *|staging:a1Stg0Demo1=*/5 * * * *
DEMO_SCHEDULER_TICK_SECONDS ?= 5

run: install messages
	mkdir -p var
	$(PY) manage.py migrate --noinput -v 0
	@trap 'kill 0 2>/dev/null' EXIT; \
	export CERTADMIN_IOT_ENDPOINT=http://127.0.0.1:$(EMULATOR_PORT); \
	export CERTADMIN_BASE_URL=http://$(HOST):$(PORT); \
	export CERTADMIN_SYNC_SCHEDULES='$(DEMO_SYNC_SCHEDULES)'; \
	export CERTADMIN_SCHEDULER_TICK_SECONDS=$(DEMO_SCHEDULER_TICK_SECONDS); \
	rm -f var/emulator-ca.pem; \
	$(PY) manage.py iot_emulator --host 127.0.0.1 --port $(EMULATOR_PORT) --write-ca var/emulator-ca.pem & \
	for i in $$(seq 100); do test -s var/emulator-ca.pem && break; sleep 0.1; done; \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	$(PY) manage.py task_worker --no-reload --queue-name interactive & \
	$(PY) manage.py task_worker --no-reload --queue-name '*' & \
	$(PY) manage.py crontask --no-heartbeat & \
	sleep 3; echo; echo "  certadmin demo: http://$(HOST):$(PORT)/   (Ctrl-C stops the dashboard, the job workers, the scheduler and the emulator)"; \
	echo "  log in as one of these demo users (username, password, role):"; \
	$(PY) manage.py seed_demo; \
	$(PY) manage.py notify_demo_seed; \
	echo "  findings and the messages sent about them: http://$(HOST):$(PORT)/fleet/ and http://$(HOST):$(PORT)/notifications/demo-inbox/"; echo; \
	wait

# Production: refuse a missing configuration before touching anything, then migrate, collect
# static files, compile catalogs, and run gunicorn (gunicorn.conf.py) with task workers and the
# scheduler. Task workers: INTERACTIVE_WORKERS that take only the short jobs people wait for
# (queue "interactive"), and TASK_WORKERS that take any job, syncs included, so a sync never
# holds every worker a short job can use (settings.py, "Background jobs"); `make run` starts one
# of each. The scheduler holds a Redis lock: on a second host it waits as a standby, trying
# again every 10 s, and takes over when the first one stops. Metrics of every process meet in
# PROMETHEUS_MULTIPROC_DIR, emptied first.
TASK_WORKERS ?= $(or $(CERTADMIN_TASK_WORKERS),2)
INTERACTIVE_WORKERS ?= $(or $(CERTADMIN_INTERACTIVE_WORKERS),1)
# Only serve's processes share a metrics directory: `make run` and `make test` keep metrics in
# each process.
serve: export PROMETHEUS_MULTIPROC_DIR ?= $(CURDIR)/var/prometheus
serve: install
	@test "$(INTERACTIVE_WORKERS)" -ge 1 || { echo "CERTADMIN_INTERACTIVE_WORKERS must be 1 or more:" \
		"without one, a long sync holds up every short job (docs/deployment.md)." >&2; exit 1; }
	@test -n "$$ALIBABA_CLOUD_ACCESS_KEY_ID" || { echo "make serve runs production and needs its environment:" \
		"ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, CERTADMIN_AUDIT_KEYS," \
		"CERTADMIN_AUDIT_SIGNING_KEY," \
		"DATABASE_URL, REDIS_URL (docs/deployment.md). For the demo: make run." >&2; exit 1; }
	$(PY) manage.py check --deploy
	@# Two database roles (docs/deployment.md): migrate and grant as the tables' owner, serve as
	@# DATABASE_URL's role, which never sees the owner's URL.
	@if [ -n "$$CERTADMIN_MIGRATE_DATABASE_URL" ]; then \
		serving_role="$$($(PY) -c 'import os, dj_database_url; print(dj_database_url.parse(os.environ["DATABASE_URL"])["USER"])')" && \
		export DATABASE_URL="$$CERTADMIN_MIGRATE_DATABASE_URL" && \
		$(PY) manage.py migrate --noinput && $(PY) manage.py db_grant_serving_role "$$serving_role"; \
	else $(PY) manage.py migrate --noinput; fi
	$(PY) manage.py collectstatic --noinput -v 0
	@if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v 0; fi
	rm -rf "$(PROMETHEUS_MULTIPROC_DIR)" && mkdir -p "$(PROMETHEUS_MULTIPROC_DIR)"
	@trap 'kill 0 2>/dev/null' EXIT; unset CERTADMIN_MIGRATE_DATABASE_URL; \
	for i in $$(seq $(INTERACTIVE_WORKERS)); do $(PY) manage.py task_worker --no-reload --queue-name interactive & done; \
	for i in $$(seq $(TASK_WORKERS)); do $(PY) manage.py task_worker --no-reload --queue-name '*' & done; \
	while :; do $(PY) manage.py crontask --no-heartbeat; sleep 10; done & \
	$(VENV)/bin/gunicorn -c gunicorn.conf.py & \
	wait -n; echo "a certadmin process ended: stopping the others" >&2; exit 1

system-deps:
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	fi

services: system-deps
	bash .ci/services

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The suite on three pytest-xdist workers: each has its own test database (pytest-django) and
# Redis database (tests/conftest.py), and runs a test file whole (--dist loadfile), so the tests
# of one file never race each other. Three on two cores: much of the suite waits (on quotas,
# worker processes, the browser), so a third worker fills the cores that two leave idle
# (docs/testing.md). Files go out in collection order (--no-loadscope-reorder), which puts the
# long ones first (tests/conftest.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3
TEST_DIST ?= loadfile

test: install messages services lint
	source var/test-services.env && $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist $(TEST_DIST) --no-loadscope-reorder

# The quick loop while changing code: SQLite, no Debian packages, no browser, no PostgreSQL or
# Redis, and not the slowest tests (marker `slow`). `make test` runs everything, as CI does.
test-quick: install messages
	mkdir -p var
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/pytest -q -p no:cacheprovider \
		-m "not browser and not postgres and not slow"

# Benchmarks (BENCHMARKS.md): each script prints its table and replaces its own
# section of BENCHMARKS.md. Not part of `make test`. Each runs alone too (--quick: tiny sizes).
BENCH_SCRIPTS := client_calls decode quota sync inventory_search audit_list audit_export \
	audit_verify page_latency sync_cpu

bench: install services
	@# wrk makes bench/page_latency.py's load (Debian's package; without it the script's own
	@# Python clients do, which share the cores and flatten its ratios).
	@$(MAKE) --no-print-directory system-deps TEST_APT_PACKAGES=wrk
	source var/test-services.env && set -e && \
	for script in $(BENCH_SCRIPTS); do echo "== bench/$$script.py"; $(PY) bench/$$script.py; done && \
	$(PY) bench/audit_trail.py --rows 2000000

lock:
	$(PY) -m pip install --quiet uv && $(VENV)/bin/uv pip compile pyproject.toml --extra dev \
		--generate-hashes --python-version 3.12 -o requirements.lock

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .ruff_cache .import_linter_cache .grimp_cache
