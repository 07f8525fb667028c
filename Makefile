# canrank: set up, build, test and benchmark.
#   make build   installs into .venv and runs `canrank build` (offline from ../shared/data if present)
#   make test    installs test dependencies (and Chromium for the map tests) and runs the tests
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
SCENARIO ?= lcc-2017-proxies
# The mirror of published files: ../shared/data when it exists, else $CANRANK_MIRROR, else none
MIRROR   ?= $(abspath $(or $(wildcard ../shared/data),$(CANRANK_MIRROR)))
SOURCE_FLAGS := $(if $(MIRROR),--mirror $(MIRROR),--download)
PYTEST_ARGS ?=

.PHONY: setup build test lint bench browser clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

build: setup
	$(BIN)/canrank build --scenario $(SCENARIO) $(SOURCE_FLAGS)

# Debian tools the tests drive: headless Chromium (maps), poppler-utils (PDF pages to PNG and
# text), gdal-bin (ogrinfo on the GeoPackage). Needs root or sudo; skipped when all are present.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 && \
	  command -v ogrinfo >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq chromium poppler-utils gdal-bin >/dev/null; }

test: setup browser
	CANRANK_MIRROR=$(MIRROR) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check canrank tests benchmarks
	$(BIN)/mypy canrank

bench: setup browser
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	CANRANK_MIRROR=$(MIRROR) $(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) data/processed/* .pytest_cache test-artifacts
