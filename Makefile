# Two commands on a fresh clone: `make run` (set up + main job) and `make test` (set up + tests).
# Each creates .venv if missing and installs the project with what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARCH   := $(shell uname -m)
# Pin torch/torchvision to the pair that exists for this machine's architecture, if we know one;
# anywhere else pip resolves the ranges in pyproject.toml.
CONSTRAINTS := $(wildcard constraints/$(ARCH).txt)
PIP_C  := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
STAMP  := $(VENV)/.installed
SHELL  := /bin/bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: setup run test test-slow lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# (the grep drops pip's notes about index folders this machine's pip config lists but lacks)
	$(BIN)/python -m pip install --quiet $(PIP_C) -e ".[dev]" 2>&1 | { grep -v "is ignored: it is neither a file" || true; }
	# BoTorch compiles its fused qLogNEHVI kernel on first use (40-110 s): here, once, rather
	# than as a silent stall in the first study (mobo/fused_kernel.py)
	$(BIN)/python -m mobo.fused_kernel
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/leanet demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	# one worker per core (pytest-xdist): on 2 cores of an AVX2 EPYC the suite took 11 minutes
	# (2026-12-07), the install 3 more; long runs are marked slow: make test-slow
	$(BIN)/python -m pytest -q -n auto

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
