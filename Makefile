# msb: `make run` and `make test` are all the set-up a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MSB := $(VENV)/bin/msb
SHARED ?= ../shared
export MSB_SHARED ?= $(abspath $(SHARED))
DATA ?= $(MSB_SHARED)/data/ztf/alerts/ztf_public_20181129_v3.2
VISIT_INTERVAL ?= 1
QUALITY ?= fink
OUT ?= out
STAMP := $(VENV)/.installed
# The columnar Avro decoder's executor, compiled from msb/avro/_columns.py (pip install -e builds it
# once; this rebuilds it whenever the source changes, so a stale extension never runs).
EXT := msb/avro/.built

.PHONY: install run test bench lint clean system-deps catalogs lab notebooks images

# Kubernetes: cluster, deploy, dev (skaffold dev), scale EXECUTORS=N, cluster-delete.
include k8s/k8s.mk

install: $(STAMP) $(EXT)

$(EXT): msb/avro/_columns.py setup.py $(STAMP)
	@$(PY) setup.py -q build_ext --inplace > $(VENV)/build-ext.log 2>&1 || (tail -30 $(VENV)/build-ext.log; exit 1)
	@touch $(EXT)

# System packages: a Java runtime for Spark, Debian's prometheus for the dashboard tests.
system-deps:
	@bash .ci/system-deps.sh

# Every distribution of the repository (docs/architecture.md): the core, one per component, the app. They
# install in one pip call, each editable, so that the components' `msb==0.1.0` is this core (PyPI's msb is
# another project).
PYPROJECTS := pyproject.toml services/replay/pyproject.toml services/crossmatch/pyproject.toml spark/pyproject.toml app/pyproject.toml

$(STAMP): $(PYPROJECTS) .ci/system-deps.sh
	@$(MAKE) --no-print-directory system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing msb (the core, its components, the app) and their dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --upgrade pip > $(VENV)/install.log 2>&1
	@$(PY) -m pip install -e '.[dev]' -e services/replay -e services/crossmatch -e spark -e 'app[k8s]' >> $(VENV)/install.log 2>&1 || (tail -30 $(VENV)/install.log; exit 1)
	@touch $(STAMP)

run: install
	$(MSB) run --data $(DATA) --out $(OUT) --visit-interval $(VISIT_INTERVAL) --quality $(QUALITY)

# The suite mostly waits on subprocesses (images building, pipelines, Spark starting): TEST_WORKERS
# pytest-xdist workers overlap those waits, one group of tests each (tests/conftest.py).
TEST_WORKERS ?= 3
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

bench: install
	$(PY) -m benchmarks $(BENCH)

# The three container images (msb-replay, msb-stream, msb-crossmatch :dev) with docker, or podman
# here (CONTAINER_ENGINE, BASE_IMAGE overridable; see images/README.md).
images:
	@bash images/build.sh

catalogs: install
	$(MSB) catalog build-defaults

# The bootcamp (bootcamp/README.md): JupyterLab with a broker and a looping replay; the five notebooks as HTML.
lab: install
	@bash bootcamp/lab.sh

notebooks: install
	$(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=600 \
	  --output-dir $(OUT)/bootcamp bootcamp/0*.ipynb

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
