#!/usr/bin/env bash
# Remakes the README's pictures of JupyterLab: docs/check-pass.png (a passing check) and
# docs/tracker.png (the lesson's tracker ticked off by a pull typed in a terminal). The browser
# tests that do both save them there.
# Needs what `make test` installs (the venv, chromium); starts a lab of its own, like the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export LABKIT_README_SCREENSHOTS="$PWD/docs"
.venv/bin/python -m pytest -q tests/integration/test_browser.py \
    -k "test_start_here_run_all_passes_its_check or test_the_tracker_ticks_off"
ls -l docs/check-pass.png docs/tracker.png
