# The targets CI calls exactly (.ci/run -> make test). Python 3.11; torch comes from this machine's
# local CPU wheel (pip install torch==2.13.0), everything else pinned by pyproject.toml + constraints.txt.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: the graph page's drawing library (Cytoscape.js), from the npm registry, pinned by web/package-lock.json
WEB_STAMP := web/node_modules/.installed

.PHONY: run test lint typecheck unit integration browser bench bench-quick clean-state clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check pip==25.3
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

## make run: create the venv, start broker + graph store + worker + API, feed the bundled real events
run: $(STAMP) $(WEB_STAMP)
	$(BIN)/groundswell up

## make test: lint, types, then the whole suite (unit, property, integration on the real embedded parts)
test: $(STAMP) $(WEB_STAMP) browser lint typecheck
	$(BIN)/python -m pytest -q

## browser: Debian's Chromium for the graph page's browser tests (skipped, with the reason, without it)
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -q chromium >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "warning: could not install chromium (needs root and Debian's registry)" >&2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

## make bench: the end-to-end benchmark (60 s sustained); results go to benchmarks/RESULTS.md by hand
bench: $(STAMP)
	$(BIN)/python -m benchmarks.end_to_end --seconds 60

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.end_to_end --seconds 15

clean-state:
	rm -rf var

clean: clean-state
	rm -rf $(VENV) *.egg-info
