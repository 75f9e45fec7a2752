# Docker Images Lab: the two commands a newcomer needs are `make lab` and `make test`.
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: lab test lint bench notebooks classroom deps deps-test venv venv-test clean

## Start the lab: system packages, Python venv, engine + registries, then JupyterLab.
## BUNDLE=FILE (`labkit mirror save FILE --wheels` on a machine with internet): everything from it, offline.
lab: deps venv
	$(BIN)/labkit up $(if $(BUNDLE),--bundle "$(BUNDLE)")
	$(BIN)/labkit lab

## Run the whole test suite against a real engine and real registries, and JupyterLab in a
## real browser (Debian's chromium, driven headless by Playwright): on today's engine (the lab's
## own, containerd image store, BuildKit), then the course's tests again on the installed
## Engine 20.10 (classic store, legacy builder). The tree is format-checked and linted first.
test: deps-test venv-test lint
	$(BIN)/python -m pytest
	LABKIT_DOCKERD=$$(command -v dockerd) $(BIN)/python -m pytest -m course

## The whole tree formatted and linted (ruff, pyproject.toml's settings): `ruff format .` mends the first.
lint: venv-test
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .

## Benchmarks (see docs/benchmarks.md); not part of the tests.
bench: deps venv-test
	$(BIN)/python bench/setup.py
	$(BIN)/python bench/checks.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/course.py
	$(BIN)/python bench/grading.py
	$(BIN)/python bench/hub.py

## Rebuild notebooks/*.ipynb from authoring/lessons.py, run each against the lab, store outputs.
notebooks: deps venv
	$(BIN)/labkit up
	$(BIN)/python -m authoring.build --execute

## For `labkit hub` (a class on this machine): JupyterHub, and Node.js for its proxy.
classroom: deps venv
	@bash scripts/install-deps.sh node=nodejs npm=npm
	@BUNDLE="$(BUNDLE)" sh scripts/install-python.sh '[hub]'

deps:
	@bash scripts/install-deps.sh

deps-test:
	@bash scripts/install-deps.sh chromium libatomic1 uidmap rootlesskit slirp4netns node=nodejs npm=npm systemd-analyze=systemd

venv: $(VENV)/.installed

## What a learner needs, found with any make and POSIX sh (macOS, WSL 2): test tools come with venv-test.
$(VENV)/.installed: pyproject.toml
	@PYTHON="$(PYTHON)" BUNDLE="$(BUNDLE)" sh scripts/install-python.sh
	@touch $@

venv-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed
	@sh scripts/install-python.sh '[test]'
	@touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
