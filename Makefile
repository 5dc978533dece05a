# Two entry points for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

PHOTOS ?= data/photos
RUN    ?= runs/default-tiny

.PHONY: demo test lint types check bench clean install default-model default-model-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# torch goes first and pinned: a bare "torch" requirement would pull a multi-GB CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Restores every photo in examples/ with the bundled default model (offline, nothing
# downloaded) into out/, with an animated GIF and a side-by-side PNG for each. Until the
# bundled weights ship (issue #13: not good enough yet), it says so and shows what works offline
# instead: it never restores with untrained weights.
BUNDLED := $(wildcard deblur_cli/data/weights/*.safetensors)

demo: $(STAMP)
	$(BIN)/deblur models
ifneq ($(BUNDLED),)
	$(BIN)/deblur restore examples/ -o out/ --gif --compare side-by-side --overwrite
	@echo "Open a side-by-side (blurry | restored): out/demo_01_deblurred_compare.png"
else
	@echo "No bundled default model yet (not good enough to ship: docs/default-model.md); restoring needs"
	@echo "published weights: deblur weights download ce-mlwnet.seed-realblur-j (internet)."
	$(BIN)/deblur weights list
	$(BIN)/deblur profile --model ce-mlwnet --size 256 --device cpu --iters 5 --warmup 1
endif

# The default model's sharp training photos: Debian wallpaper packages (apt-get download +
# dpkg-deb -x, nothing installed; needs apt the first time, then works offline from the .deb
# files kept in data/cache/) and scikit-image's colour photos, with MANIFEST.csv (licences).
default-model-data: $(STAMP)
	$(BIN)/python tools/fetch_training_photos.py --out $(PHOTOS)

# Trains the bundled default model with the tool itself; an interrupted run continues with
# --resume when $(RUN)/last.pt exists. Steps, threads and precision come from the recipe
# (override with e.g. `make default-model TRAIN_ARGS="--max-steps 1000 --threads 2"`).
default-model: default-model-data
	$(BIN)/deblur train --recipe default-tiny --root $(PHOTOS) --out $(RUN) \
		$(if $(wildcard $(RUN)/last.pt),--resume) $(TRAIN_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check deblur_cli tests benchmarks tools

# mypy reads its settings (files, the strict public-API modules) from pyproject.toml.
types: $(STAMP)
	$(BIN)/mypy

check: lint types

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
