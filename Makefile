# One entry point for people and CI. Every target installs what it needs first (DESIGN §2.8).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Newest Python >= 3.11 on the machine; override with `make install PYTHON=python3.13`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: install test lint unit integration e2e bench run demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

test: lint
	$(VENV)/bin/pytest -q

bench: install
	$(VENV)/bin/pytest -q -s tests/benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
