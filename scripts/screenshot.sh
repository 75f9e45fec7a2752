#!/usr/bin/env bash
# Remakes docs/check-pass.png, the README's picture of a passing check in JupyterLab:
# the browser test that runs 00-start-here saves its check cell there.
# Needs what `make test` installs (the venv, chromium); starts a lab of its own, like the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export LABKIT_README_SCREENSHOT="$PWD/docs/check-pass.png"
.venv/bin/python -m pytest -q tests/integration/test_browser.py -k test_start_here_run_all_passes_its_check
echo "wrote $LABKIT_README_SCREENSHOT ($(stat -c %s "$LABKIT_README_SCREENSHOT") bytes)"
