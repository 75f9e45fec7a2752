"""Validate: read one submitted notebook, once, and say what is wrong with it in nbformat's words;
which exercises it is graded on, and where it checks them.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import nbformat

from ..course import catalog
from ..errors import LabkitError
from .job import Job, Submission


def read(job: Job) -> None:
    """Stage "read and validate": the grader's copy read once, named as the teacher's file is."""
    job.sub = sub = validate(job.path)
    if who := job.who:
        sub.path, sub.name = Path(who["source"]), who["name"]
        sub.learner, sub.learner_id, sub.lms, sub.key = who["learner"], who["learner_id"], who["lms"], who["key"]


def validate(path: Path) -> Submission:
    """Read and validate one notebook file: unreadable JSON, schema errors, too-new versions."""
    sub = Submission(path=path, name=path.stem)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        sub.problem = f"cannot be read: {e}"
        return sub
    except ValueError as e:
        sub.problem = f"is not a notebook: its JSON is broken ({e})"
        return sub
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        sub.problem = "is not a notebook: it has no nbformat version"
        return sub
    if raw["nbformat"] > nbformat.current_nbformat:
        sub.problem = (
            f"uses notebook format {raw['nbformat']}, newer than this grader reads ({nbformat.current_nbformat})"
        )
        return sub
    try:
        sub.notebook = _read(raw)
    except nbformat.ValidationError as e:
        sub.problem = f"is not a valid notebook: {_schema_problem(e)}"
    return sub


def _read(raw: dict) -> nbformat.NotebookNode:
    """The notebook in `raw`, validated; nbformat's ValidationError, which says what is wrong, if not."""
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except (nbformat.reader.NotJSONError, nbformat.NBFormatError, KeyError, TypeError, AttributeError) as e:
        # nbformat reads before it validates, and reading what its schema rejects can fail first with
        # an error of its own (metadata that is a list: "pop expected at most 1 argument, got 2").
        raise _schema_error(raw) or nbformat.ValidationError(str(e)) from e
    nbformat.validate(nb)
    return nb


def _schema_error(raw: dict) -> nbformat.ValidationError | None:
    """What nbformat's schema finds wrong in `raw`; None if nothing, or if it is too broken to look at."""
    try:
        nbformat.validate(copy.deepcopy(raw))  # (it adds missing cell ids as it validates)
    except nbformat.ValidationError as e:
        return e
    except (ImportError, LookupError, TypeError, AttributeError, ValueError):
        pass  # too broken for the validator too: the error reading it says what it can
    return None


def _schema_problem(error: nbformat.ValidationError) -> str:
    """nbformat's message, and the cell it is about: "… is not of type 'object' (cell 1, metadata)"."""
    message = str(error.message).splitlines()[0][:200]
    path = list(error.absolute_path)
    if len(path) < 2 or path[0] != "cells":
        return message
    inside = f", {'/'.join(str(p) for p in path[2:])}" if len(path) > 2 else ""
    return f"{message} (cell {path[1]}{inside})"


def lesson_of(nb: nbformat.NotebookNode, name: str) -> str:
    """The lesson a submission is of ("" when none): the one its notebook's metadata names, when the
    course has it, else the lesson whose notebook its file name holds (`ann/08-capstone`,
    `smithann_1_2_08-capstone-1`)."""
    labkit = nb.metadata.get("labkit")
    lesson = labkit.get("lesson") if isinstance(labkit, dict) else None
    if isinstance(lesson, str) and lesson in catalog.TITLES:
        return lesson
    stem = name.rsplit("/", 1)[-1]
    longest_first = sorted(catalog.LESSONS, key=lambda row: -len(row[1]))
    return next((lesson_id for lesson_id, notebook, _ in longest_first if notebook in stem), "")


def notebook_of(lesson: str, name: str) -> str:
    """The lesson's notebook (`08-capstone`), as a gradebook's column names it; else the file's own name."""
    return next(
        (notebook for lesson_id, notebook, _ in catalog.LESSONS if lesson_id == lesson), name.rsplit("/", 1)[-1]
    )


def exercises_of(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """The exercises a submission is graded on: its lesson's (`lesson_of`), and any other exercise it checks."""
    lesson = lesson_of(nb, name)
    ids = [e.id for e in catalog.lesson(lesson)] if lesson else []
    for cell in nb.cells:
        for exercise, _answer in checks_in(cell):
            if exercise not in ids and is_exercise(exercise):
                ids.append(exercise)
    return ids


def is_exercise(exercise: str) -> bool:
    try:
        catalog.get(exercise)
    except LabkitError:
        return False
    return True


def checks_in(cell) -> list[tuple[str, str | None]]:
    """(exercise id, source of its answer= expression or None) for each `lab.check(...)` in a code cell."""
    if cell.cell_type != "code":
        return []
    try:
        tree = ast.parse(_python_only(cell.source))
    except SyntaxError:
        return [(m, None) for m in re.findall(r'lab\.check\(\s*["\']([\w.-]+)["\']', cell.source)]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                answer = next((ast.unparse(k.value) for k in node.keywords if k.arg == "answer"), None)
                if answer is None and len(node.args) > 1:
                    answer = ast.unparse(node.args[1])
                found.append((node.args[0].value, answer))
    return found


def _python_only(source: str) -> str:
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
