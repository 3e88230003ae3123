# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# pip prints harmless "Location ... is ignored" lines on some machines; keep them out of logs.
PIP := $(PY) -m pip --disable-pip-version-check
QUIET := 2>&1 | { grep -v 'is ignored' || true; }

.PHONY: demo test lint bench bench-smoke system-deps docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-core: pyproject.toml | $(PY)
	$(PIP) install -q -e . $(QUIET)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[test]' $(QUIET)
	touch $@

# Real local embeddings for the RAG example's test: torch's CPU build first, then the extra.
$(VENV)/.installed-rag-local: pyproject.toml $(VENV)/.installed-test
	$(PIP) install -q torch==2.13.0 $(QUIET)
	$(PIP) install -q -e '.[rag-local]' $(QUIET)
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[bench]' $(QUIET)
	touch $@

# The full comparison with the peers (several minutes; BENCH_ARGS="-n 500" for less).
bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks $(BENCH_ARGS)

bench-smoke: $(VENV)/.installed-bench
	$(PY) -m benchmarks --smoke

demo: $(VENV)/.installed-core
	$(PY) -m langgraph_observe demo

# Real components the tests run against (Debian's prometheus, promtool, pushgateway).
system-deps:
	bash scripts/install-system-deps.sh

test: $(VENV)/.installed-test $(VENV)/.installed-rag-local system-deps
	LANGGRAPH_OBSERVE_STRICT=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check langgraph_observe tests benchmarks examples
	$(VENV)/bin/ruff format --check langgraph_observe tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .langgraph_observe .pytest_cache .mypy_cache .ruff_cache
