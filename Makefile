# The two commands of the README: `make demo` (set up + main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup browser-setup crypt-setup demo test test-unit test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch must come first, or a dependency pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	# llama.cpp compiles for the CPU that builds it: a wheel cached on one machine dies with SIGILL
	# mid-answer on another. Build it portable (AVX2 baseline), from source, never from a cache.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install --quiet --no-cache-dir \
	    "$$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml)"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(VENV)/bin/workbench ingest data/samples/*
	$(VENV)/bin/workbench stats
	$(VENV)/bin/workbench serve

# Chromium (apt) and playwright (pip) for tests/e2e/test_browser.py; idempotent.
browser-setup: setup
	bash .ci/browser-setup.sh $(VENV)

# gocryptfs and fusermount (apt) for tests/integration/test_encryption.py; idempotent.
crypt-setup:
	bash .ci/crypt-setup.sh

# Then the notebooks, executed with their default parameters on small fixture data in a
# throwaway home (notebooks/conftest.py): a cell that raises fails the target.
test: setup browser-setup crypt-setup
	$(PY) -m ruff check workbench tests notebooks app_streamlit.py
	$(PY) -m pytest -q
	$(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks/
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir $$(mktemp -d)

# While working: tests/unit needs no embedding model, server or index (seconds); test-fast adds
# tests/integration (the real model, DuckDB and LanceDB in temp folders) less what is marked slow.
test-unit: setup
	$(PY) -m pytest -q tests/unit

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests/unit tests/contract tests/integration tests/hostile

bench: setup
	$(VENV)/bin/workbench bench ingest

clean:
	rm -rf data/workbench
