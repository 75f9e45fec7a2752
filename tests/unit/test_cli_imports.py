"""labkit's own programs start without what they do not need: jsonschema's optional rfc3987-syntax,
which compiles a Lark grammar on import (seconds of CPU per `labkit` command and grading worker)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import labkit.cli
import nbformat
nbformat.validate(nbformat.v4.new_notebook())   # nbformat still validates
print(sys.modules.get("rfc3987_syntax") is not None, "lark" in sys.modules)
"""


@pytest.mark.parametrize("program", ["labkit.cli", "labkit.grading"], ids=["command-line", "grading-worker"])
def test_labkit_programs_do_not_load_rfc3987_syntax_or_lark(program):
    """A grading worker (spawned) imports labkit.grading first, never the command line."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace("labkit.cli", program)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_other_programs_are_untouched():
    """Only labkit's command line goes without it: importing the library (as a kernel does) changes nothing."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys, labkit; print('rfc3987_syntax' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["False"]
