# Docker Images Lab: the two commands a newcomer needs are `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: lab test bench notebooks deps deps-test venv clean

## Start the lab: system packages, Python venv, engine + registries, then JupyterLab.
lab: deps venv
	$(BIN)/labkit up
	$(BIN)/labkit lab

## Run the whole test suite against a real engine and real registries, and JupyterLab in a
## real browser (Debian's chromium, driven headless by Playwright): on today's engine (the lab's
## own, containerd image store, BuildKit), then the course's tests again on the installed
## Engine 20.10 (classic store, legacy builder).
test: deps-test venv
	$(BIN)/python -m pytest
	LABKIT_DOCKERD=$$(command -v dockerd) $(BIN)/python -m pytest -m course

## Benchmarks (see docs/benchmarks.md); not part of the tests.
bench: deps venv
	$(BIN)/python bench/setup.py
	$(BIN)/python bench/checks.py
	$(BIN)/python bench/course.py
	$(BIN)/python bench/grading.py
	$(BIN)/python bench/hub.py

## Rebuild notebooks/*.ipynb from course/lessons.py, run each against the lab, store outputs.
notebooks: deps venv
	$(BIN)/labkit up
	$(BIN)/python -m course.build --execute

deps:
	@bash scripts/install-deps.sh

deps-test:
	@bash scripts/install-deps.sh chromium libatomic1 uidmap rootlesskit slirp4netns node=nodejs npm=npm

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labkit needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
