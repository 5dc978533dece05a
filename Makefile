# Two entry points for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint types check bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# torch goes first and pinned: a bare "torch" requirement would pull a multi-GB CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/deblur models
	$(BIN)/deblur weights list
	$(BIN)/deblur profile --model all --size 256 --no-timing
	$(BIN)/deblur profile --model ce-mlwnet --size 256 --device cpu --iters 5 --warmup 1

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check deblur_cli tests benchmarks

# mypy reads its settings (files, the strict public-API modules) from pyproject.toml.
types: $(STAMP)
	$(BIN)/mypy

check: lint types

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
