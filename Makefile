# How Kubernetes authenticates internal access — the course's commands.
# `make help` lists them. Every target is idempotent and quick when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)

# `make test` runs tests/run.py: the tests that need no cluster once, then every cluster test,
# checker test, notebook and lab on each backend this machine can run (local, kubeconfig,
# workshop and kind at the newest Kubernetes, and local at the oldest the course supports).
# K8S=1.34 (COURSE_K8S_VERSION) picks the Kubernetes of the course's own clusters.
ifdef K8S
export COURSE_K8S_VERSION := $(K8S)
endif
RUN_TESTS = KEEP=$(KEEP) $(PY) tests/run.py

.DEFAULT_GOAL := help
.PHONY: help setup build kind-image book book-serve lab test test-unit test-local test-kubeconfig test-workshop test-floor test-kind test-versions cluster-up cluster-down cluster-status workshop-preflight workshop-up workshop-status workshop-board workshop-down bench lint nav clean distclean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## create .venv and install the course (jupyterlab, kubernetes client, kubectl, …)

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is missing: install Python 3.11 or newer and retry."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: the course needs Python 3.11 or newer; $(PYTHON) is older: set PYTHON=python3.11 (or newer)."; exit 1; }
	@echo "setting up .venv (once) …"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip > $(VENV)/install.log 2>&1 && \
	 $(PY) -m pip install -q -e '.[test,book,hub]' >> $(VENV)/install.log 2>&1 || \
	 { tail -n 20 $(VENV)/install.log; echo "error: installing the course's Python packages failed (log: $(VENV)/install.log): check your network access to PyPI and retry."; exit 1; }
	@touch $@

build: setup ## build the local cluster's binaries and images (cached in ~/.cache/sa-course)
	@$(PY) -m helpers.cluster build

kind-image: setup ## build the kind node image for machines without a registry (needs Docker; cached)
	@$(PY) -m helpers.cluster kind-image

cluster-up: setup ## start the course cluster, or reuse the running one (K8S=1.34: that version)
	@$(PY) -m helpers.cluster up

cluster-down: setup ## stop the course cluster and remove everything it left
	@$(PY) -m helpers.cluster down

cluster-status: setup ## show the course cluster's processes, health and memory
	@$(PY) -m helpers.cluster status

# The course's own JupyterLab settings (no news pop-up, no update check): JupyterLab reads
# overrides.json from the environment's share/jupyter/lab/settings.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): helpers/jupyterlab/overrides.json $(VENV)/.installed
	@install -D -m 0644 $< $@

lab: cluster-up $(LAB_SETTINGS) ## start the cluster and open the course in JupyterLab
	@$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root,) \
		--ServerApp.contents_manager_class=helpers.jupyterlab.contents.CourseContentsManager \
		--ServerApp.root_dir=$(CURDIR) notebooks/00_setup.ipynb

test: setup ## run every test, notebook and lab on every backend this machine can run
	@$(RUN_TESTS)

test-unit: setup ## only the tests that need no cluster (helpers, doctests, the course's files)
	@$(RUN_TESTS) --backends=

test-local: setup ## every cluster test, notebook and lab on the local cluster
	@$(RUN_TESTS) --no-offline --backends=local

test-kubeconfig: setup ## the same through the kubeconfig backend (an existing cluster; runs on local)
	@$(RUN_TESTS) --no-offline --backends=kubeconfig

test-workshop: setup ## the course as a classroom: every notebook and lab as 6 learners at once (local)
	@$(RUN_TESTS) --no-offline --backends=workshop

test-floor: setup ## every notebook, lab and cluster test on the local cluster at Kubernetes 1.33
	@$(RUN_TESTS) --no-offline --backends=floor

test-kind: setup ## the same on a kind cluster (starts the test-only Docker engine where none runs)
	@$(RUN_TESTS) --no-offline --backends=kind

test-versions: setup ## the course on the local cluster at every supported minor; writes the README's table
	@$(PY) tests/matrix.py

# Workshop mode (README, "Running a workshop"): LEARNERS, DURATION and WORKSHOP pick the class.
LEARNERS ?= 6
DURATION ?= 4h
WORKSHOP ?= ws1
# HUB=1: each learner's JupyterLab runs in a Pod behind JupyterHub (local or kind cluster), at HUB_ADDRESS.
HUB ?=
HUB_ADDRESS ?= 127.0.0.1
# An existing cluster: HUB_IMAGE= the course image in its registry, HUB_POD_ADDRESS= this machine's address its Pods reach.
HUB_IMAGE ?=
HUB_POD_ADDRESS ?=
WORKSHOP_CMD = $(PY) -m helpers.workshop --name $(WORKSHOP)

workshop-preflight: setup ## can this cluster host LEARNERS learners?
	@$(WORKSHOP_CMD) preflight --learners $(LEARNERS)

workshop-up: setup ## set up LEARNERS learners for DURATION and write their kubeconfigs (HUB=1: in the browser)
	@$(WORKSHOP_CMD) up --learners $(LEARNERS) --duration $(DURATION) $(if $(filter 1,$(HUB)),--hub --hub-address $(HUB_ADDRESS) $(if $(HUB_IMAGE),--hub-image $(HUB_IMAGE),) $(if $(HUB_POD_ADDRESS),--hub-pod-address $(HUB_POD_ADDRESS),),)

workshop-status: setup ## one line per learner: token, namespaces, Pods
	@$(WORKSHOP_CMD) status

workshop-board: setup ## the live progress board (Ctrl-C stops it; also writes workshop-board.html)
	@$(WORKSHOP_CMD) board --watch 10 --html workshop-board.html

workshop-down: setup ## remove the workshop; proves every handed-out kubeconfig gets 401
	@$(WORKSHOP_CMD) down

bench: setup ## time fresh starts of the local and kind clusters (and memory); a workshop of 6 and 30, with and without the hub; each lab alone (≤ 60 s)
	@$(PY) -m tools.bench_clusters
	@COURSE_BACKEND=local $(PY) -m tools.bench_workshop --learners 6,30
	@COURSE_BACKEND=local $(PY) -m tools.bench_hub --learners 6,30
	@COURSE_BACKEND=local COURSE_LAB_BUDGET=60 $(PY) -m pytest -p no:cacheprovider -q -s tests/labs/test_labs_solved.py

book: setup ## the rendered edition: every notebook and lab with a real run's outputs (build/book/html)
	@$(PY) -m tools.edition

book-serve: setup ## serve the rendered edition on http://127.0.0.1:8008/
	@$(PY) -m tools.edition --serve

nav: setup ## regenerate notebook navigation and the README contents; strip outputs
	@$(PY) -m tools.nav

lint: setup ## ruff, on helpers, tests and tools
	@$(BIN)/ruff check helpers tests tools && $(BIN)/ruff format --check helpers tests tools

clean: ## stop the cluster and remove .venv and caches inside the repository
	@if [ -x $(PY) ]; then $(PY) -m helpers.cluster down || true; fi
	@rm -rf $(VENV) .pytest_cache .ruff_cache .pytest-kind *.egg-info
	@find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove the build cache (~/.cache/sa-course): the next start rebuilds
	@rm -rf $${COURSE_CACHE_DIR:-$$HOME/.cache/sa-course}
