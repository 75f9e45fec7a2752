#!/bin/sh
# Makes .venv with a Python 3.11+ (scripts/python.sh) and installs labkit into it, with EXTRAS
# ("[test]", "[hub]") when given. With BUNDLE (a course bundle made by `labkit mirror save FILE
# --wheels`), every Python package comes from the bundle: no PyPI needed. POSIX sh (macOS, WSL 2).
set -eu
extras=${1:-}
bundle=${BUNDLE:-}
pip() { .venv/bin/python -m pip "$@"; }
if [ ! -x .venv/bin/python ]; then
    python=$(PYTHON="${PYTHON:-}" sh scripts/python.sh)
    echo "$python -m venv .venv"
    "$python" -m venv .venv
fi
if [ -n "$bundle" ]; then
    [ -f "$bundle" ] || { echo "labkit: BUNDLE=$bundle is not a file" >&2; exit 1; }
    wheels=.cache/bundle-wheels
    rm -rf "$wheels" && mkdir -p "$wheels"
    if tar -xf "$bundle" -C "$wheels" wheels 2>/dev/null && [ -n "$(ls "$wheels/wheels" 2>/dev/null)" ]; then
        echo "labkit: installing Python packages from $bundle (no PyPI)"
        pip install -q --no-index --find-links "$wheels/wheels" --upgrade pip
        pip install -q --no-index --find-links "$wheels/wheels" -e ".$extras"
        exit 0
    fi
    echo "labkit: $bundle holds no Python packages (saved without --wheels): installing them from PyPI" >&2
fi
pip install -q --upgrade pip
pip install -q -e ".$extras"
