# vertaid — set-up, run, test, lint. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# PDF reports need Debian's Pango (WeasyPrint), and print much faster with HarfBuzz's font subsetter.
# Installed when missing and the user is root; otherwise PDF still works where Pango is present.
PDF_LIBRARIES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0

$(STAMP): pyproject.toml | $(BIN)/python
	@missing=$$(for p in $(PDF_LIBRARIES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $$missing (PDF reports)"; \
		apt-get install -y -q $$missing >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null 2>&1; } || \
		echo "could not install $$missing: PDF reports may be slow or unavailable"; \
	fi
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	@# Byte-compile the sources once, so start-up does not pay for it where bytecode is not written.
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

# The web application on http://127.0.0.1:8000 over the store VERTAID_DATABASE_URL names (by default
# SQLite in ./var/vertaid.db): the public vignettes are loaded as demo cases (once), and a demo API key
# is created and printed.
HOST ?= 127.0.0.1
PORT ?= 8000
run: $(STAMP)
	$(BIN)/vertaid demo tests/vignettes
	$(BIN)/vertaid serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium: installed when missing and the user is root.
test: $(STAMP)
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (browser tests)"; \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
		echo "could not install chromium: the browser tests will be skipped"; \
	fi
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m ruff check src tests bench scripts
	$(BIN)/python -m ruff format --check src tests bench scripts
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python bench/assess_throughput.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/report_speed.py
	$(BIN)/python bench/synth_speed.py
	$(BIN)/python bench/cohort.py
	$(BIN)/python bench/web_load.py
	$(BIN)/python bench/cds_patient_view.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis build dist
