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

.PHONY: run test unit lint services clean bench-embeddings bench-runs chat-page

$(BIN)/python:
	@echo ">> creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo ">> installing citadel-orca with the local models (torch CPU, sentence-transformers,"
	@echo ">> llama-cpp-python). The first install compiles llama.cpp: about 7-10 minutes on 2 cores."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --progress-bar off torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --progress-bar off -e '.[local]'
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	@echo ">> installing test dependencies"
	$(BIN)/pip install --progress-bar off -e '.[local,test]'
	@touch $@

run: $(VENV)/.installed
	@echo ">> serving on http://127.0.0.1:8000 (SQLite checkpoints, local Qdrant, local models)"
	$(BIN)/orca serve

services:
	@bash .ci/services

# Node packages of the browser and AG-UI client tests (pinned by their lock files).
JS_TEST_DEPS := tests/browser/node_modules/.package-lock.json tests/agui_client/node_modules/.package-lock.json
tests/%/node_modules/.package-lock.json: tests/%/package-lock.json
	npm ci --prefix tests/$* --no-audit --no-fund

test: $(VENV)/.installed-test services
	$(MAKE) $(JS_TEST_DEPS)
	$(BIN)/python -m pytest

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/unit

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# LiteLLM proxy, the peer of the embeddings benchmark, in its own venv (never a dependency).
LITELLM := var/litellm/bin/litellm
$(LITELLM):
	$(PYTHON) -m venv var/litellm
	var/litellm/bin/pip install --quiet 'litellm[proxy]'

bench-embeddings: $(VENV)/.installed $(LITELLM)
	@command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
	$(BIN)/python -m evals.bench_embeddings --litellm $(LITELLM)

# `langgraph dev` (LangGraph's in-memory Agent Server), the peer of the runs benchmark, in its
# own venv (never a dependency).
LANGGRAPH_DEV := var/langgraph-dev/bin/langgraph
$(LANGGRAPH_DEV):
	$(PYTHON) -m venv var/langgraph-dev
	var/langgraph-dev/bin/pip install --quiet 'langgraph-cli[inmem]' langgraph

bench-runs: $(VENV)/.installed $(LANGGRAPH_DEV)
	$(BIN)/python -m evals.bench_runs --langgraph-dev $(LANGGRAPH_DEV)

# Rebuild the committed chat page script (server/static/chat/app.js) after editing server/web/chat/src.
chat-page:
	npm ci --prefix server/web/chat --no-audit --no-fund
	npm run build --prefix server/web/chat

clean:
	rm -rf $(VENV) var
