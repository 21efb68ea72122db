# The two set-up commands of the README: `make run` (the main job) and `make test` (CI's command).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

# On the project's own machines the reviews lie beside the checkout; elsewhere the loader
# downloads them.
SHARED_REVIEWS := $(wildcard $(CURDIR)/../shared/data/amazon_reviews/reviews_15k.csv)
ifneq ($(SHARED_REVIEWS),)
export SKCSE_DATA ?= $(abspath $(SHARED_REVIEWS))
endif

.PHONY: install run test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: a CPU build; an unpinned torch drags in several GB of CUDA.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,distributed,fast]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/skcse compare

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest
