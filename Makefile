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

# uv installs torch and the package's 120 dependencies, bytecode compiled as pip does, in about
# 50 s where pip takes 105 s. It reads none of pip's settings, so it is handed the folder from
# which pip takes the CPU torch wheel here.
FIND_LINKS := $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV := $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python $(if $(FIND_LINKS),--find-links $(FIND_LINKS))

# The main job needs the package alone; the tests add its extras (pytest, ruff, Sphinx, dask,
# ONNX Runtime, OpenVINO), 11 s more on a fresh machine.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv
	# torch first, pinned: a CPU build; an unpinned torch drags in several GB of CUDA.
	$(UV) torch==2.13.0
	$(UV) -e .
	touch $@

$(VENV)/.installed-extras: $(VENV)/.installed
	$(UV) -e '.[dev,distributed,fast]'
	touch $@

install: $(VENV)/.installed-extras

run: $(VENV)/.installed
	$(BIN)/skcse compare

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest
