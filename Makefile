# vertaid — set-up, run, test, lint. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Until the web application exists, `make run` installs vertaid and assesses a demo case.
run: $(STAMP)
	@echo "vertaid is installed: $(BIN)/vertaid. Assessing the demo case examples/02-collapse-over-30.json:"
	$(BIN)/vertaid assess examples/02-collapse-over-30.json

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m ruff format --check src tests bench
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python bench/assess_throughput.py
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis build dist
