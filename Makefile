# One command set for a person and for CI.
#   make run    create .venv if missing, install, serve the demo organization with GraphiQL
#   make test   create .venv if missing, install with the test extras, fetch web assets,
#               ruff + mypy, then pytest
#   make lint   ruff and mypy (strict)
#   make wheel  build dist/devinsights_api-*.whl, GraphiQL's assets inside (fetched by the build)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra flags for `make run`, e.g. make run SERVE_FLAGS="--port 9000"
SERVE_FLAGS ?=

.PHONY: run test lint web-assets wheel

run: $(VENV)/.installed-app
	@bash scripts/setup-web-assets 2>/dev/null || echo "make run: GraphiQL assets are not" \
	  "installed (needs node and npm: run scripts/setup-web-assets); the API works without them"
	$(BIN)/devinsights serve --demo $(SERVE_FLAGS)

test: $(VENV)/.installed-test web-assets lint
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

web-assets:
	@if [ -f scripts/setup-web-assets ]; then bash scripts/setup-web-assets; fi

# build/ is setuptools' staging area; a stale one could put deleted modules into the wheel.
wheel: | $(BIN)/python
	rm -rf build
	$(BIN)/python -m pip wheel --no-deps --wheel-dir dist .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes. The test install includes the app.
$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-app
