# One entry point for people and CI. Every target installs what it needs first (architecture.md §2.8).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Newest Python >= 3.11 on the machine; override with `make install PYTHON=python3.13`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
STAGE ?= dev

.PHONY: install test lint bench bench-peers peers-install run demo sam-install validate sam-build deploy listener-image clean

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

test: lint validate sam-build
	$(VENV)/bin/pytest -q

# The whole pipeline on this machine: moto server, live markets, console or real Telegram.
run: install
	$(PY) -m infra.local

# The same stack offline: fake exchanges replaying data/ plus a scripted cascade and OI surge.
demo: install
	$(PY) -m infra.local --demo

# SAM CLI in its own virtual environment: it pins boto3 exactly.
sam-install: $(SAM_VENV)/.installed

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --upgrade pip
	$(SAM_VENV)/bin/pip install -q aws-sam-cli
	touch $@

validate: sam-install
	$(SAM) validate --lint --region us-east-1

# sam build needs the Lambda runtime's Python (3.13); infra/find-python313 finds one off PATH too.
sam-build: sam-install
	@py=$$(infra/find-python313); \
	if [ -z "$$py" ]; then echo "sam build: no python3.13 on this machine; install one (e.g. pyenv install 3.13) to build"; \
	else echo "sam build with $$py"; PATH="$$(dirname $$py):$$PATH" $(SAM) build --parallel; fi

# The listener's arm64 image, pushed to the stack's ECR repository (the first `sam deploy` creates
# it); prints the ListenerImageUri to deploy with. Needs docker with buildx and the AWS CLI.
LISTENER_STACK ?= crypto-alerts-$(STAGE)
AWS_REGION ?= us-east-1
LISTENER_TAG ?= $(shell git describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)

listener-image:
	@set -euo pipefail; \
	repo=$$(aws cloudformation describe-stacks --region $(AWS_REGION) --stack-name $(LISTENER_STACK) \
		--query "Stacks[0].Outputs[?OutputKey=='ListenerRepositoryUri'].OutputValue" --output text); \
	if [ -z "$$repo" ] || [ "$$repo" = None ]; then \
		echo "error: stack $(LISTENER_STACK) has no ListenerRepositoryUri output; sam deploy it first" >&2; exit 1; fi; \
	aws ecr get-login-password --region $(AWS_REGION) | docker login --username AWS --password-stdin "$${repo%%/*}"; \
	docker buildx build --platform linux/arm64 --file listener/Dockerfile --tag "$$repo:$(LISTENER_TAG)" --push .; \
	echo "ListenerImageUri=$$repo:$(LISTENER_TAG)"

# Build, ship the listener image, deploy with its URI. The first run creates the stack (and with it
# the ECR repository) before the image can be pushed. STAGE=dev|prod picks the samconfig section.
deploy: install sam-build
	@set -euo pipefail; \
	overrides=$$($(PY) -c "import tomllib; print(tomllib.load(open('samconfig.toml', 'rb'))['$(STAGE)']['deploy']['parameters']['parameter_overrides'])"); \
	if ! aws cloudformation describe-stacks --region $(AWS_REGION) --stack-name $(LISTENER_STACK) >/dev/null 2>&1; then \
		$(SAM) deploy --config-env $(STAGE); fi; \
	uri=$$($(MAKE) -s listener-image STAGE=$(STAGE) | sed -n 's/^ListenerImageUri=//p'); \
	test -n "$$uri" || { echo "error: the listener image was not pushed" >&2; exit 1; }; \
	$(SAM) deploy --config-env $(STAGE) --parameter-overrides $$overrides ListenerImageUri=$$uri

bench: install
	$(VENV)/bin/pytest -q -s tests/benchmarks

# The listener against cryptofeed and a bare websockets + orjson client on one loopback server
# (tests/benchmarks/peers). The references live in their own virtual environment, on the same
# interpreter as .venv and with its websockets version; the listener runs from .venv.
# BENCH_PEERS_ARGS passes options through, e.g. BENCH_PEERS_ARGS="--alerts --repetitions 5", or
# "--exchange all" for the listener's production configuration (Binance, Bybit and OKX in one process).
PEERS_VENV := .venv-peers
PEERS_REQUIREMENTS := tests/benchmarks/peers/requirements.txt

peers-install: $(PEERS_VENV)/.installed

$(PEERS_VENV)/.installed: $(PEERS_REQUIREMENTS) $(VENV)/.installed
	@set -euo pipefail; \
	base=$$($(PY) -c 'import sys; print(sys._base_executable)'); \
	websockets=$$($(PY) -c 'import importlib.metadata as m; print(m.version("websockets"))'); \
	rm -rf $(PEERS_VENV); "$$base" -m venv $(PEERS_VENV); \
	$(PEERS_VENV)/bin/python -m pip install -q --upgrade pip; \
	$(PEERS_VENV)/bin/python -m pip install -q -r $(PEERS_REQUIREMENTS) "websockets==$$websockets"
	touch $@

bench-peers: install peers-install
	PYTHONPATH=tests/benchmarks $(PY) -m peers --peers-python $(PEERS_VENV)/bin/python $(BENCH_PEERS_ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(PEERS_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam .local
