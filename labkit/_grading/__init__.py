"""`labkit grade`: grade a class's notebooks, each in a fresh lab of its own, in parallel if asked.

    grade(files, out) → GradeRun   (report.csv, report.json, report.html, graded/*.ipynb in out)

Each submission gets its own managed engine and registry (the class's mirror serves the
base images), so no submission sees another's images, one that removes every image
touches nothing else, and `--jobs N` can grade N at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import nbformat

from .._context import LabNotUp
from .._errors import LabkitError
from .._paths import LabPaths
from .._state import RegistryState, State
from . import report, steps


@dataclass
class Options:
    out: Path
    jobs: int = 1
    cell_timeout: int = 120
    notebook_timeout: int = 1200
    formats: tuple[str, ...] = ()


@dataclass
class GradeRun:
    submissions: list[dict] = field(default_factory=list)  # one row each, as report.json holds them

    @property
    def ungraded(self) -> list[dict]:
        return [s for s in self.submissions if s["status"] != "graded"]


def collect(items: list[Path]) -> list[Path]:
    """Notebook files from files and folders (folders: every *.ipynb inside, sorted)."""
    found: list[Path] = []
    for item in items:
        if item.is_dir():
            found += sorted(p for p in item.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(item)
    return found


def grade(items: list[Path], options: Options, progress: Callable[[dict], None] | None = None,
          only_failed: bool = False) -> GradeRun:
    paths = LabPaths.from_env()
    state = State.load(paths)
    if not state.mirror.port:
        raise LabNotUp()
    files = collect(items)
    previous = _previous(options.out) if only_failed else {}
    if only_failed:
        files = [f for f in files if previous.get(str(f), {}).get("status") != "graded"]
    work = Path(tempfile.mkdtemp(prefix="labkit-grade-"))  # short: labs live here while they grade
    options.out.mkdir(parents=True, exist_ok=True)
    tasks = [(str(f), str(work), str(options.out), state.mirror.port, str(paths.cache), options.cell_timeout,
              options.notebook_timeout) for f in files]
    rows: list[dict] = []
    if options.jobs <= 1:
        for task in tasks:
            rows.append(grade_one(*task))
            progress and progress(rows[-1])
    else:
        with ProcessPoolExecutor(max_workers=options.jobs, mp_context=get_context("spawn")) as pool:
            for row in pool.map(_grade_task, tasks):
                rows.append(row)
                progress and progress(row)
    shutil.rmtree(work, ignore_errors=True)
    merged = {**previous, **{row["path"]: row for row in rows}}
    run = GradeRun(sorted(merged.values(), key=lambda r: r["path"]))
    report.write_all(run.submissions, options.out, options.formats)
    return run


def _grade_task(task: tuple) -> dict:
    return grade_one(*task)


def grade_one(path: str, work: str, out: str, mirror_port: int, cache: str, cell_timeout: int, notebook_timeout: int) -> dict:
    """Grade one submission end to end; never raises (a fault becomes the submission's problem)."""
    started = time.monotonic()
    sub = steps.validate(Path(path))
    lab = None
    try:
        if sub.graded:
            lab = steps.prepare(Path(work), sub, RegistryState(port=mirror_port), Path(cache))
            steps.execute(sub, lab, lab.kernel_env(dict(os.environ)), cell_timeout, notebook_timeout)
            steps.finish(sub, lab)
    except LabkitError as e:
        sub.problem, sub.infrastructure = f"the lab failed while grading: {e.message}", True
    except Exception as e:  # noqa: BLE001 - one submission must never stop the batch
        sub.problem = f"the grader failed on it: {type(e).__name__}: {e}"
        sub.infrastructure = True
        sub.events.append(traceback.format_exc(limit=3))
    finally:
        if lab is not None:
            steps.dismantle(lab)
    sub.seconds = time.monotonic() - started
    return row_of(sub, Path(out))


def row_of(sub: steps.Submission, out: Path) -> dict:
    results = {k: v.to_dict() for k, v in sub.results.items()}
    graded = None
    if sub.notebook is not None and sub.graded:
        graded = out / "graded" / f"{steps._slug(sub.name)}.ipynb"
        graded.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(sub.notebook, graded)
    status = "graded" if sub.graded else ("infrastructure" if sub.infrastructure else "invalid")
    return {
        "path": str(sub.path), "name": sub.name, "status": status, "problem": sub.problem,
        "points": sum(r["points"] for r in results.values()) if sub.graded else 0,
        "possible": sum(r["possible"] for r in results.values()),
        "exercises": results, "events": sub.events, "seconds": round(sub.seconds, 2),
        "graded_notebook": str(graded) if graded else "",
    }


def _previous(out: Path) -> dict:
    try:
        rows = json.loads((out / "report.json").read_text())["submissions"]
    except (OSError, ValueError, KeyError):
        return {}
    return {row["path"]: row for row in rows}


__all__ = ["GradeRun", "Options", "collect", "grade", "grade_one"]
