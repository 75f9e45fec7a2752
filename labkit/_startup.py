"""Imported first by labkit's own programs (the command line and the grading workers), so they
start without loading what they never use.

jsonschema, which nbformat imports, loads rfc3987-syntax when it is installed (jupyter-events
requires it), and that package compiles a Lark grammar as it is imported: seconds of CPU
(docs/benchmarks.md) for every `labkit` command and every grading worker, for the `iri` format
no notebook schema uses (python-jsonschema/jsonschema#1392, #1521). These programs go without
it: jsonschema then leaves `iri` unchecked. Kernels and JupyterLab are processes of their own
and never import this module.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)
