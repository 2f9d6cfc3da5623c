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
# production database and cache, openssl for checking downloads, gettext for the catalogs.
TEST_APT_PACKAGES := chromium fonts-wqy-microhei redis-server postgresql openssl gettext

.PHONY: help install run test lint format lock messages system-deps services bench clean

help:
	@echo "make run    - set up and start the demo dashboard on http://$(HOST):$(PORT)"
	@echo "make test   - set up and run ruff and the whole test suite"
	@echo "make lint / format / messages / lock / bench / clean"

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "certadmin needs Python 3.12, found " + sys.version' \
		|| { echo "Install Python 3.12 (see .python-version)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

install: $(VENV)/.installed

messages: install
	@if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v 0; \
	else echo "gettext's msgfmt is missing: using the committed .mo catalogs"; fi

run: install messages
	mkdir -p var
	$(PY) manage.py migrate --noinput -v 0
	@trap 'kill 0 2>/dev/null' EXIT; \
	export CERTADMIN_IOT_ENDPOINT=http://127.0.0.1:$(EMULATOR_PORT); \
	$(PY) manage.py iot_emulator --host 127.0.0.1 --port $(EMULATOR_PORT) --write-ca var/emulator-ca.pem & \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	$(PY) manage.py db_worker --no-reload --queue-name '*' & \
	sleep 3; echo; echo "  certadmin demo: http://$(HOST):$(PORT)/   (Ctrl-C stops the dashboard, the job worker and the emulator)"; \
	echo "  log in as one of these demo users (username, password, role):"; \
	$(PY) manage.py seed_demo; echo; \
	wait

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

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install messages services lint
	source var/test-services.env && $(VENV)/bin/pytest

bench: install services
	source var/test-services.env && $(PY) bench/audit_trail.py --rows 2000000

lock:
	$(PY) -m pip install --quiet uv && $(VENV)/bin/uv pip compile pyproject.toml --extra dev \
		--generate-hashes --python-version 3.12 -o requirements.lock

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .ruff_cache
