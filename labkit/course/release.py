"""Learner copies of the source notebooks: solutions out, outputs cleared.

A source notebook keeps each solution in a code cell tagged ``solution``. Its learner
copy has that cell replaced by an empty exercise cell (tagged ``exercise``) that says,
in a comment, what to do: the first line of the markdown cell above it. Every code
cell's outputs and execution count are cleared, but for the tracker cell's (tagged
``tracker``) stored output. Everything else (cell and notebook
metadata, the check cells) is kept as it is.

A release is all or nothing: every source notebook is read and validated and every
destination is checked before the first file is written.

The workspace (`labkit lab`) gets the same learner copies, but only the ones it lacks:
`stock` never overwrites a notebook the learner may have edited, and `fresh` replaces one
lesson's notebook after moving the old copy aside (``04-layers.20261127-091500.ipynb``).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError
from nbformat.reader import reads as _parse_any_version

from ..errors import ReleaseError
from .catalog import LESSONS

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
#: The lesson's tracker cell, whose stored output (the tracker the lab's JupyterLab keeps live) the
#: learner copy keeps: every other output is cleared.
TRACKER_TAG = "tracker"
DEFAULT_TASK = "write the commands for this exercise"
EXERCISE_SOURCE = "# Your turn: {task}\n# (then run the check cell below)\n"


@dataclass(frozen=True)
class ReleasedNotebook:
    name: str
    solutions_removed: int
    path: Path


def release(src: Path, dst: Path, force: bool = False) -> list[ReleasedNotebook]:
    """Write a learner copy of every notebook in `src` (not its subfolders) into `dst`."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise ReleaseError(
            f"The source folder {src} does not exist.", "name the folder that holds the source notebooks."
        )
    if dst.resolve() == src.resolve():
        raise ReleaseError(
            f"The learner copies would replace the source notebooks in {src}.",
            "name another destination folder: the solutions live only in the sources.",
        )
    sources = _sources(src)
    prepared = [_prepare(path) for path in sources]

    targets = [dst / path.name for path in sources]
    existing = [target for target in targets if target.exists()]
    if existing and not force:
        raise ReleaseError.existing(dst, existing)

    released = []
    for (notebook, removed), target in zip(prepared, targets):
        _write(notebook, target)
        released.append(ReleasedNotebook(name=target.name, solutions_removed=removed, path=target))
    return released


def _sources(src: Path) -> list[Path]:
    return sorted(p for p in src.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))


@dataclass(frozen=True)
class WorkspaceNotebook:
    """A learner notebook in the workspace: `copied` now, or the learner's own copy `kept`;
    `saved` is where `fresh` moved the old copy."""

    name: str
    path: Path
    copied: bool
    saved: Path | None = None


def stock(src: Path, workspace: Path) -> list[WorkspaceNotebook]:
    """Give the workspace a learner copy of every source notebook it lacks; never overwrite one."""
    src, workspace = Path(src), Path(workspace)
    if not src.is_dir():
        raise ReleaseError(f"The course notebooks are not in {src}.", "name the folder that holds them (--notebooks).")
    sources = _sources(src)
    missing = [path for path in sources if not (workspace / path.name).exists()]
    prepared = [_prepare(path) for path in missing]  # all validated before the first write
    workspace.mkdir(parents=True, exist_ok=True)
    for (notebook, _removed), path in zip(prepared, missing):
        _write(notebook, workspace / path.name)
    return [WorkspaceNotebook(p.name, workspace / p.name, copied=p in missing) for p in sources]


def notebook_name(src: Path, name: str) -> str:
    """The file name of a course notebook named as a lesson ("layers"), a notebook ("04-layers") or a file."""
    names = [p.name for p in _sources(Path(src))]
    by_lesson = {lesson: f"{notebook}.ipynb" for lesson, notebook, _title in LESSONS}
    wanted = Path(str(name)).name
    for candidate in (wanted, f"{wanted}.ipynb", by_lesson.get(wanted, "")):
        if candidate in names:
            return candidate
    raise ReleaseError.unknown(str(name), [n.removesuffix(".ipynb") for n in names])


def fresh(src: Path, workspace: Path, name: str, now: float | None = None) -> WorkspaceNotebook:
    """Replace one learner notebook with a fresh copy; an existing copy is first renamed
    NAME.YYYYMMDD-HHMMSS.ipynb beside it (never overwriting anything)."""
    src, workspace = Path(src), Path(workspace)
    filename = notebook_name(src, name)
    notebook, _removed = _prepare(src / filename)
    target = workspace / filename
    saved = None
    if target.exists():
        saved = _saved_name(target, time.localtime(now))
        try:
            os.rename(target, saved)
        except OSError as e:
            raise ReleaseError(
                f"Your copy of {filename} could not be moved aside to {saved.name}: {e}",
                f"check that you may write to {workspace}; nothing was replaced.",
                (target,),
            ) from e
    _write(notebook, target)
    return WorkspaceNotebook(filename, target, copied=True, saved=saved)


def _saved_name(target: Path, when: time.struct_time) -> Path:
    stem = f"{target.stem}.{time.strftime('%Y%m%d-%H%M%S', when)}"
    candidate, n = target.with_name(f"{stem}.ipynb"), 2
    while candidate.exists():
        candidate, n = target.with_name(f"{stem}-{n}.ipynb"), n + 1
    return candidate


def _prepare(path: Path) -> tuple[nbformat.NotebookNode, int]:
    """The learner copy of one source notebook, validated, and how many solutions it lost."""
    notebook, removed = learner_copy(read_notebook(path))
    _validate(path, notebook)
    return notebook, removed


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A notebook file as nbformat 4, validated; ReleaseError says what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReleaseError.invalid(path, f"it cannot be read as UTF-8 text ({e})") from e
    try:
        # nbformat.reads(as_version=4) would log a validation error and go on; parse and
        # convert here and validate below, so the error is reported once, as ours.
        notebook = nbformat.convert(_parse_any_version(text), 4)
    except NotJSONError as e:
        raise ReleaseError.invalid(path, "it is not JSON (a notebook is a JSON file)") from e
    except (ValueError, AttributeError, TypeError, KeyError) as e:
        raise ReleaseError.invalid(path, f"it is JSON but not a notebook nbformat can read ({e})") from e
    _validate(path, notebook)
    return notebook


def solution_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indexes of the code cells tagged "solution"."""
    return [i for i, cell in enumerate(nb.cells) if cell.get("cell_type") == "code" and SOLUTION_TAG in _tags(cell)]


def learner_copy(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """The learner's version of a source notebook, and how many solutions it lost."""
    out = copy.deepcopy(nb)
    solutions = solution_cells(out)
    for index in solutions:
        cell = out.cells[index]
        cell.source = EXERCISE_SOURCE.format(task=_task_before(out, index))
        cell.metadata["tags"] = _retagged(_tags(cell))
    for cell in out.cells:
        if cell.get("cell_type") == "code":
            if TRACKER_TAG not in _tags(cell):
                cell.outputs = []
            cell.execution_count = None
    return out, len(solutions)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _retagged(tags: list[str]) -> list[str]:
    """ "solution" becomes "exercise", in its place; no tag twice."""
    result: list[str] = []
    for tag in (EXERCISE_TAG if tag == SOLUTION_TAG else tag for tag in tags):
        if tag not in result:
            result.append(tag)
    return result


def _task_before(nb: nbformat.NotebookNode, index: int) -> str:
    """The first line of the nearest markdown cell above cell `index`, without heading marks."""
    for cell in reversed(nb.cells[:index]):
        if cell.get("cell_type") == "markdown":
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            lines = [line.lstrip("#").strip() for line in source.splitlines() if line.strip()]
            return lines[0] if lines and lines[0] else DEFAULT_TASK
    return DEFAULT_TASK


def _validate(path: Path, notebook: nbformat.NotebookNode) -> None:
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as e:
        raise ReleaseError.invalid(
            path, f"it does not follow the notebook format: {_where(e)}{_short(e.message)}"
        ) from e


def _where(error: nbformat.ValidationError) -> str:
    parts = list(error.absolute_path)
    if len(parts) >= 2 and parts[0] == "cells" and isinstance(parts[1], int):
        rest = "/".join(str(p) for p in parts[2:])
        return f"cell {parts[1] + 1}{' ' + rest if rest else ''}: "
    return f"{'/'.join(str(p) for p in parts)}: " if parts else ""


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write(notebook: nbformat.NotebookNode, target: Path) -> None:
    """Write through a temporary file, so a learner never opens half a notebook."""
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(nbformat.writes(notebook), encoding="utf-8")
        os.replace(temporary, target)
    except OSError as e:
        raise ReleaseError(
            f"The learner notebook {target} cannot be written: {e}",
            f"check that you may write to {target.parent}.",
            (target,),
        ) from e
