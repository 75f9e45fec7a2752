"""The few kinds of cell a lesson is made of."""

from __future__ import annotations

import json

from nbformat.v4 import new_code_cell, new_markdown_cell

from authoring.solutions import SOLUTIONS
from labkit.course import catalog
from labkit.course.release import TRACKER_TAG
from labkit.ui.tracking import stored_output


def md(text: str):
    return new_markdown_cell(text.strip())


def code(source: str, *tags: str):
    cell = new_code_cell(source.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def ready():
    """The first code cell of every notebook: is the lab up? (and point this kernel at it)"""
    return code("from labkit import lab\n\nlab.ready()")


def tracker(lesson: str):
    """The second code cell of every notebook: the lesson's exercises, ticked off as the work is done.
    Its stored output (kept in the learner copies) is the tracker the lab's JupyterLab keeps live
    with no cell run (labkit.ui.tracking)."""
    cell = code(f'lab.track("{lesson}")', TRACKER_TAG)
    cell.outputs = [stored_output(lesson)]
    cell.execution_count = 2  # a cell with outputs has run (nbval refuses outputs of a cell never run)
    return cell


def exercise(exercise_id: str, *solution: str, before: str = "", setup: str = "", answer: str = ""):
    """An exercise: the task (from the catalog), an optional setup cell, the solution cell(s)
    (tagged `solution`: `labkit release` empties them), and the check cell. One answered in words
    (`answer`: the variable the check cell gives it) gets a cell for the learner's answer, and a
    solution cell that sets the right answer (authoring/solutions.py)."""
    spec = catalog.get(exercise_id)
    cells = [md(f"### Exercise: {spec.title}\n\n{spec.task}\n\n{before}".strip())]
    if setup:
        cells.append(code(setup))
    if answer:
        cells.append(code(f"{answer} = None  # your answer goes here"))
        # The answers are a str, a number, lists and dicts of them: their JSON is Python too.
        solution = (*solution, f"{answer} = {json.dumps(SOLUTIONS[exercise_id].answer)}")
    cells += [code(source, "solution") for source in solution]
    call = f'lab.check("{exercise_id}", answer={answer})' if answer else f'lab.check("{exercise_id}")'
    cells.append(code(call, "nbval-check-output"))
    return cells


def recap(rows: list[tuple[str, str]]):
    lines = ["## Recap: the commands of this notebook", "", "| Task | Command |", "|---|---|"]
    lines += [f"| {task} | `{command}` |" for task, command in rows]
    return md("\n".join(lines))
