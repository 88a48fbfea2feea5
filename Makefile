# Every target builds .venv itself: on a fresh machine with Python 3.11, `make run` and `make test` suffice.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench fmt infra clean browser

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)  ## the whole system locally (moto server, API, event runner); Ctrl-C keeps the data
	$(BIN)/python -m chalicelib.local

test: $(STAMP)  ## the whole suite: unit, integration (moto), e2e (HTTP against the local stack), infra
	$(BIN)/python -m pytest -n 2

browser:  ## headless Chromium for tests/e2e/test_docs_browser.py: Debian's package (root; CI runs as root)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@chromium --version 2>/dev/null

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy chalicelib app.py
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## DynamoDB requests and latency per operation, cold-import time, assignment engine, settlement and quotes; writes docs/benchmarks.md
	$(BIN)/python -m bench.customers
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.imports
	$(BIN)/python -m bench.assignment
	$(BIN)/python -m bench.tickets
	$(BIN)/python -m bench.settlement
	$(BIN)/python -m bench.settlement_store

infra: $(STAMP)  ## synthesize the CloudFormation template into infra/out/
	$(BIN)/python -m infra.synth --stage dev

clean:
	rm -rf $(VENV) .local infra/out
