# The two commands of the README: `make demo` (set up + main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup browser-setup crypt-setup demo test test-unit test-fast bench clean test-openwebui fuzz bench-server

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

# A real Open WebUI as the workbench's client (tests/e2e/test_openwebui.py), kept out of `make
# test`: Open WebUI installs into a virtualenv of its own beside the repository (about 7 GB,
# 4 minutes), made on the first run.
OPENWEBUI_VERSION := 0.12.4
OPENWEBUI_VENV ?= $(abspath ..)/openwebui-venv

test-openwebui: setup $(OPENWEBUI_VENV)/.installed-$(OPENWEBUI_VERSION)
	OPENWEBUI_VENV=$(OPENWEBUI_VENV) $(PY) -m pytest -q tests/e2e/test_openwebui.py

$(OPENWEBUI_VENV)/.installed-$(OPENWEBUI_VERSION):
	test -x $(OPENWEBUI_VENV)/bin/python || python3 -m venv $(OPENWEBUI_VENV)
	$(OPENWEBUI_VENV)/bin/python -m pip install --quiet open-webui==$(OPENWEBUI_VERSION)
	touch $@

# The server's OpenAPI schema fuzzed with many more examples per route than `make test` uses.
FUZZ_EXAMPLES ?= 100
fuzz: setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -s tests/e2e/test_server_fuzz.py

# `workbench bench server` (100k messages, 1/8/32 clients) with the scripted LLM of
# tests/fake_openai.py in a process of its own, so chat completions time the server, not a model.
bench-server: setup
	out=$$(mktemp); $(PY) tests/fake_openai.py > $$out & llm=$$!; trap "kill $$llm" EXIT; \
	while [ ! -s $$out ]; do sleep 0.1; done; \
	nice -n 10 $(VENV)/bin/workbench bench server --llm-base-url "$$(cat $$out)"

bench: setup
	$(VENV)/bin/workbench bench ingest

clean:
	rm -rf data/workbench
