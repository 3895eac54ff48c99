# Crier: `make run` (embedded demo), `make test` (the whole suite). See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
export UV_LINK_MODE := copy

VENV := .venv
PY := $(VENV)/bin/python
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
HOST ?= 127.0.0.1
PORT ?= 8000

# Debian packages that tests and benchmarks drive, as command=package. `make test` and
# `make bench` install the missing ones with apt-get when they run as root, or stop and
# say which are missing and how to install them.
TEST_SYSTEM_PACKAGES := chromium=chromium spamassassin=spamassassin
BENCH_SYSTEM_PACKAGES := wrk=wrk taskset=util-linux smtp-sink=postfix

.PHONY: help run test bench lint assets messages install-run install-dev clean \
	system-packages-test system-packages-bench

help:
	@echo "make run    serve the embedded demo on http://$(HOST):$(PORT) (web + worker + beat)"
	@echo "make test   lint, migration check, system checks and pytest against PostgreSQL and Redis"
	@echo "make bench  run the benchmarks (ONLY=name for one), one JSON line each"
	@echo "make messages  update locale/*/django.po from the source (then translate them)"

.tools/bin/uv:
	python3.11 -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.installed-run: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --group embedded --inexact
	@touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --group embedded
	@touch $@ $(VENV)/.installed-run

install-run: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

static/dist/app.js: node_modules/.package-lock.json $(wildcard frontend/*)
	npm run --silent build

MESSAGES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po | $(VENV)/.installed-run
	$(PY) manage.py compilemessages --locale $* --ignore .venv --ignore node_modules -v0

assets: static/dist/app.js $(MESSAGES)

messages: install-dev
	$(PY) manage.py makemessages --all --no-location --no-obsolete \
		--ignore .venv --ignore node_modules --ignore tests --ignore static --ignore var --ignore .tools

# PostgreSQL and Redis from wheels under var/, migrate, seed, then web + worker + beat
# (newsletter/management/commands/run_embedded.py). Links in mail point at this server.
run: export SITE_URL ?= http://$(HOST):$(PORT)
run: install-run assets
	DEBUG=true LOG_FORMAT=text $(PY) manage.py run_embedded --host $(HOST) --port $(PORT)

# $(1): what needs them (test, bench); $(2): its command=package pairs.
define system_packages
	@missing=$$(for pair in $(2); do \
		command -v "$${pair%%=*}" >/dev/null || echo "$${pair#*=}"; done | sort -u | xargs); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing $$missing (Debian packages that make $(1) needs)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
			|| { echo "make $(1) needs $$missing, and apt-get could not install it" >&2; exit 1; }; \
	else \
		echo "make $(1) needs $$missing: install with sudo apt-get install $$missing" >&2; exit 1; \
	fi
endef

system-packages-test:
	$(call system_packages,test,$(TEST_SYSTEM_PACKAGES))

system-packages-bench:
	$(call system_packages,bench,$(BENCH_SYSTEM_PACKAGES))

test: export DJANGO_SETTINGS_MODULE := tests.settings
test: system-packages-test install-dev assets
	@$(PY) manage.py check_services --create-database
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check
	$(VENV)/bin/pytest

# Benchmarks use their own database (see bench/); not part of make test. The dashboard
# benchmark serves the built front end, as production does.
# smtp-sink lives in /usr/sbin, outside a user's PATH on Debian.
bench: export PATH := $(PATH):/usr/sbin
bench: system-packages-bench install-dev assets
	$(PY) -m bench $(ONLY)

lint: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .tools node_modules static/dist staticfiles
