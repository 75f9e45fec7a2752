#!/bin/sh
# Prints the Python 3.11+ that `make` builds .venv with: $PYTHON when given, else the newest of
# python3.13, python3.12, python3.11, python3 on PATH; or says which to install and fails.
# POSIX sh only: `make lab` runs it on macOS and Windows (WSL 2) too.
for candidate in ${PYTHON:-python3.13 python3.12 python3.11 python3}; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        command -v "$candidate"
        exit 0
    fi
done
if [ -n "${PYTHON:-}" ]; then
    found="PYTHON=$PYTHON: $("$PYTHON" --version 2>&1 || true)"
else
    found=$(python3 --version 2>/dev/null || echo "no python3 on PATH")
fi
cat >&2 <<MSG
labkit needs Python 3.11 or newer, with venv (found: $found).
  macOS:    brew install python@3.12   (or the installer from python.org)
  Debian 12 / Ubuntu 24.04 and WSL 2 on Windows:  sudo apt install python3 python3-venv
  Ubuntu 22.04:  sudo apt install python3.11 python3.11-venv
  Then run make again (or name one: make lab PYTHON=/path/to/python3.12).
MSG
exit 1
