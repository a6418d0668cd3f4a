# msb: `make run` and `make test` are all the set-up a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MSB := $(VENV)/bin/msb
SHARED ?= ../shared
export MSB_SHARED ?= $(abspath $(SHARED))
DATA ?= $(MSB_SHARED)/data/ztf/alerts/ztf_public_20181129_v3.2
OUT ?= out
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint clean system-deps

install: $(STAMP)

# System packages: a Java runtime for Spark, Debian's prometheus for the dashboard tests.
system-deps:
	@bash .ci/system-deps.sh

$(STAMP): pyproject.toml .ci/system-deps.sh
	@$(MAKE) --no-print-directory system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(MSB) run --data $(DATA) --out $(OUT)

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks $(BENCH)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
