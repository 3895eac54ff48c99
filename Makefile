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

.PHONY: help run test bench lint assets messages install-run install-dev clean

help:
	@echo "make run    serve the embedded demo on http://$(HOST):$(PORT) (web + worker + beat)"
	@echo "make test   lint, migration check, system checks and pytest against PostgreSQL and Redis"
	@echo "make bench  run the benchmarks (ONLY=name for one), one JSON line each"
	@echo "make messages  update locale/*/django.po from the source (then translate them)"

.tools/bin/uv:
	python3.11 -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.installed-run: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --inexact
	@touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
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

run: install-run assets
	DEBUG=true LOG_FORMAT=text $(PY) manage.py migrate --noinput
	DEBUG=true LOG_FORMAT=text $(PY) manage.py seed_demo
	@echo "Serving http://$(HOST):$(PORT)/dashboard/ with a Celery worker and beat; Ctrl-C stops all."
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DEBUG=true LOG_FORMAT=text HOST=$(HOST) PORT=$(PORT) \
		$(VENV)/bin/honcho --no-prefix -f Procfile.embedded start

test: export DJANGO_SETTINGS_MODULE := tests.settings
test: install-dev assets
	@$(PY) manage.py check_services --create-database
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check
	$(VENV)/bin/pytest

# Benchmarks use their own database (see bench/); not part of make test.
bench: install-dev
	$(PY) -m bench $(ONLY)

lint: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .tools node_modules static/dist staticfiles
