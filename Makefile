# Two commands for a new user: `make demo` (set up, then run the main job end to end on the
# embedded default) and `make test` (set up, then lint, check layer contracts and run the tests).
# Both create .venv on first use and are fast when it is already up to date.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgekit-installed
DEMO   ?= build/demo

.PHONY: demo test setup lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,export,demo,dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgekit demo $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check edgekit tests $(wildcard benchmarks)
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf build
