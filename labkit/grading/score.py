"""Score: a submission's row of the reports (points per exercise, what happened, its names), and its
graded copy kept in out/graded/ under its own key (never another's)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

from .job import Job, Submission
from .validate import lesson_of, notebook_of
from .verify import slug


def score(job: Job) -> None:
    """Stage "score": the row, from what the stages before found."""
    job.sub.seconds = time.monotonic() - job.started
    job.row = row_of(job.sub, job.out)


UNSANDBOXED = "ran unsandboxed (--no-sandbox): its commands ran as root on the grading machine"


def row_of(sub: Submission, out: Path) -> dict:
    results = {k: {**v.to_dict(), "timings": sub.timings.get(k, {})} for k, v in sub.results.items()}
    graded = None
    if sub.notebook is not None and sub.graded:
        graded = out / "graded" / f"{sub.key or slug(sub.name)}.ipynb"
        graded.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(sub.notebook, graded)
    status = "graded" if sub.graded else ("infrastructure" if sub.infrastructure else "invalid")
    if sub.notebook is not None and sub.graded and not sub.sandboxed:
        sub.events.append(UNSANDBOXED)
    lesson = lesson_of(sub.notebook, sub.name) if sub.notebook is not None else ""
    return {
        "path": str(sub.path),
        "name": sub.name,
        "learner": sub.learner,
        "learner_id": sub.learner_id,
        "lms": sub.lms,
        "notebook": notebook_of(lesson, sub.name),
        "key": sub.key or slug(sub.name),
        "status": status,
        "problem": sub.problem,
        "points": sum(r["points"] for r in results.values()) if sub.graded else 0,
        "possible": sum(r["possible"] for r in results.values()),
        "exercises": results,
        "events": sub.events,
        "seconds": round(sub.seconds, 2),
        "graded_notebook": str(graded) if graded else "",
        "sandboxed": sub.sandboxed,
        "limits_hit": sub.limits_hit,
        "peak_memory_mb": round(sub.peak_memory / 2**20) if sub.peak_memory else None,
    }
