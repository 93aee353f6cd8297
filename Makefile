# Two commands on a fresh machine:
#   make chat   set everything up (first time: a few minutes) and start the chat on the bundled models
#   make test   set everything up and run the test suite
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: setup chat test bench-quick clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml plugins/langchain-nuonuo/pyproject.toml scripts/install-llama-cpp.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch (an unpinned torch would pull a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	# llama.cpp for this CPU without its AMX kernels (they segfault on Xeons with AMX), from a wheel
	# cache keyed by version, flags and CPU (pip's own cache ignores both): scripts/install-llama-cpp.sh
	scripts/install-llama-cpp.sh $(PY)
	$(PY) -m pip install -q -e ".[dev]" -e "plugins/langchain-nuonuo[langgraph,langmem]"
	# export the bundled embedder to ONNX once, from its installed weights (cached in the user cache dir)
	$(PY) -c "from nuonuo.encoder import load_encoder; load_encoder()"
	touch $@

chat: setup
	$(VENV)/bin/nuonuo chat

test: setup
	$(PY) -m pytest -q

bench-quick: setup
	$(PY) -m benchmarks.longmemeval --sample 100

clean:
	rm -rf $(VENV)
