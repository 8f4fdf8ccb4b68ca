# Two entry points for a fresh machine: `make demo` (main job on the tiny world) and `make test`.
# Both bootstrap .venv idempotently: torch first (pinned CPU wheel), then the package under a
# constraints file that keeps torch pinned, and Debian graphviz when `dot` is missing; `make test`
# also installs Debian's chromium for the circuit explorer's browser tests (driven by Playwright's
# Python package with the system browser: no browser download).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test test-fast lint bench graphviz chromium clean-venv

$(BIN)/.runtime: setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(BIN)/.testenv: $(BIN)/.runtime
	$(BIN)/pip install -q -c constraints.txt pytest ruff playwright hypothesis
	# dictionary_learning only as a file format to test interop against; its pins would break transformers.
	$(BIN)/pip install -q --no-deps dictionary-learning==0.1.0 einops==0.8.2
	touch $@

graphviz:
	@command -v dot >/dev/null || { apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

demo: $(BIN)/.runtime graphviz
	$(BIN)/shift run --dataset bib --method ssae --preset tiny --out runs/demo

# The whole suite (what CI runs); test-fast leaves out the tests marked slow, for development.
test: $(BIN)/.testenv graphviz chromium
	$(BIN)/python -m pytest -q --durations=10 tests

test-fast: $(BIN)/.testenv graphviz chromium
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: $(BIN)/.testenv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-venv:
	rm -rf $(VENV)
