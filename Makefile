# Citadel Orca: `make run` serves on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# llama.cpp is compiled by pip. A portable x86-64 build (AVX2, no AMX/AVX-512): the
# -march=native build crashed with a general-protection fault in libggml-cpu on this
# project's AMX-capable CI machines. Other architectures use llama.cpp's defaults.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
endif

.PHONY: run test test-latest lock unit lint services clean bench-embeddings bench-runs chat-page

# The lock: `make run` and `make test` install exactly the set in requirements/ (issue 13: a
# fresh resolve took openai 3.63 on httpx2 2.17, which the tested set did not have, and the
# openai chat provider crashed at start-up), with pip and hash-checked pins, not uv or poetry:
# - torch: the CPU build 2.13.0+cpu lies on this machine kind's disk (/opt/wheels, in pip's
#   configuration). uv and poetry do not read pip's configuration: `uv lock` (uv 0.13.9,
#   5 s against 30 s for `make lock`) took PyPI's torch 2.13.0, a CUDA build with 19 more
#   packages (nvidia-*, cuda-*, triton), 2.7 GB of wheels to download on every cold install
#   where pip reads a 192 MB file from the disk. Pointing uv at /opt/wheels would write that
#   machine path into uv.lock.
# - the same pip, resolver and configuration (indexes, constraint file) as before, and no
#   new tool: hashed requirement files are read by any pip.
# pip installs requirements/local.txt (or test.txt) with --require-hashes --no-deps, so
# nothing is resolved at install time; the project goes in on its own (`-e .`, no hashes for
# a folder), and `lock.py check` fails the install when pyproject.toml wants something the
# lock lacks. The build backends pip fetches (hatchling; scikit-build-core for llama.cpp)
# are hash-pinned too, in build.txt (--build-constraint, pip 25.3+).
LOCK_PIP := $(BIN)/pip install --progress-bar off --require-hashes --no-deps \
	--build-constraint requirements/build.txt

IS_311 := import sys; sys.exit(sys.version_info[:2] != (3, 11) and "requirements/ is locked \
	for CPython 3.11, $(PYTHON) is " + sys.version.split()[0] + ": make PYTHON=python3.11 ...")
$(BIN)/python:
	@$(PYTHON) -c '$(IS_311)'
	@echo ">> creating $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(VENV)/.pip: requirements/pip.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/pip.txt
	@touch $@

$(VENV)/.installed: pyproject.toml requirements/local.txt requirements/build.txt $(VENV)/.pip
	@echo ">> installing citadel-orca with the local models from requirements/local.txt (torch"
	@echo ">> CPU, sentence-transformers, llama-cpp-python). The first install compiles llama.cpp:"
	@echo ">> about 6 minutes on 2 cores; pip caches the wheel."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(LOCK_PIP) -r requirements/local.txt
	$(BIN)/pip install --quiet --no-deps --build-constraint requirements/build.txt -e .
	$(BIN)/python requirements/lock.py check local
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements/test.txt
	@echo ">> installing test dependencies from requirements/test.txt"
	$(LOCK_PIP) -r requirements/test.txt
	$(BIN)/python requirements/lock.py check local test
	@touch $@

# Refresh the lock: a fresh resolve of pyproject.toml's ranges in a new venv (about 40 s).
# Then `make test`, and commit requirements/ with the code it passed on.
lock:
	rm -rf var/lock
	$(PYTHON) -m venv var/lock
	var/lock/bin/pip install --quiet --upgrade pip
	var/lock/bin/python requirements/lock.py lock $(LOCK_ARGS)

# The suite against a fresh resolve (no lock) in var/latest, so drift in the ranges shows up
# here before users meet it. Not part of CI; var/latest/freeze.txt is what it ran on.
LATEST := var/latest
test-latest: services
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(LATEST)/bin/pip install --progress-bar off -e '.[local,test]'
	$(LATEST)/bin/pip freeze --exclude-editable > $(LATEST)/freeze.txt
	$(LATEST)/bin/python requirements/lock.py drift
	$(MAKE) $(JS_TEST_DEPS)
	$(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

run: $(VENV)/.installed
	@echo ">> serving on http://127.0.0.1:$${ORCA_PORT:-8000} (SQLite checkpoints, local Qdrant, local models)"
	$(BIN)/orca serve

services:
	@bash .ci/services

# Node packages of the browser, AG-UI and LangGraph JS client tests (pinned by their lock files).
JS_TEST_DEPS := tests/browser/node_modules/.package-lock.json tests/agui_client/node_modules/.package-lock.json \
	tests/langgraph_js/node_modules/.package-lock.json tests/protocol_js/node_modules/.package-lock.json
tests/%/node_modules/.package-lock.json: tests/%/package-lock.json
	npm ci --prefix tests/$* --no-audit --no-fund

test: $(VENV)/.installed-test services
	$(MAKE) $(JS_TEST_DEPS)
	$(BIN)/python -m pytest

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/unit

# Style, formatting, and types: mypy reads the modules [tool.mypy] names, strictly.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# LiteLLM proxy, the peer of the embeddings benchmark, in its own venv (never a dependency).
LITELLM := var/litellm/bin/litellm
$(LITELLM):
	$(PYTHON) -m venv var/litellm
	var/litellm/bin/pip install --quiet 'litellm[proxy]'

bench-embeddings: $(VENV)/.installed $(LITELLM)
	@command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
	$(BIN)/python -m evals.bench_embeddings --litellm $(LITELLM)

# `langgraph dev` (LangGraph's in-memory Agent Server) and Aegra (aegra-api on PostgreSQL,
# which needs Python >= 3.12: PYTHON312 names one), the peers of the runs benchmark, each in
# its own venv (never a dependency).
LANGGRAPH_DEV := var/langgraph-dev/bin/langgraph
$(LANGGRAPH_DEV):
	$(PYTHON) -m venv var/langgraph-dev
	var/langgraph-dev/bin/pip install --quiet 'langgraph-cli[inmem]' langgraph

PYTHON312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python) python3.12)
AEGRA := var/aegra/bin/uvicorn
$(AEGRA):
	$(PYTHON312) -m venv var/aegra
	var/aegra/bin/pip install --quiet aegra-api uvicorn

bench-runs: $(VENV)/.installed $(LANGGRAPH_DEV) $(AEGRA)
	$(BIN)/python -m evals.bench_runs --langgraph-dev $(LANGGRAPH_DEV)

# Run overhead of each surface against the same graph in-process (scripted models, SQLite).
bench-surfaces: $(VENV)/.installed-test
	$(BIN)/python -m evals.bench_surfaces

# Rebuild the committed chat page script (server/static/chat/app.js) after editing server/web/chat/src.
chat-page:
	npm ci --prefix server/web/chat --no-audit --no-fund
	npm run build --prefix server/web/chat

clean:
	rm -rf $(VENV) var
