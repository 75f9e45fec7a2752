"""The grader as a pipeline of stages, declared as data (as nbgrader lists its preprocessors), one
module per stage:

    validate (validate.py) → prepare a fresh lab, a sandbox (labs.py) → execute cell by cell
    (execute.py), verifying at each checkpoint from this process (verify.py) → stop what it left
    running → note the sandbox's limits it hit → verify what it never checked (verify.py) →
    score and report (report.py)

`STAGES` is what runs in a lab, in order; `labkit.grading.grade_one` takes a lab, runs them, and
gives the lab back. Nothing the notebook prints, displays or does to `labkit` inside its kernel
counts: the grader runs each check itself, against the submission's own engine and registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from .execute import execute
from .labs import (GradingLab, Sandboxing, course_packages_held, dismantle, note_limits, prepare, sandbox_engine, seed_registry,
                   seeded_registry, stop_leftovers)
from .validate import Submission, checks_in, exercises_of, lesson_of, notebook_of, validate
from .verify import GRADER_SAYS, finish, slug, verify


@dataclass(frozen=True)
class Limits:
    cell_timeout: int  # seconds one cell may run
    notebook_timeout: int  # seconds the whole notebook may run


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Submission, GradingLab, Limits], None]


STAGES: tuple[Stage, ...] = (
    Stage("execute", lambda sub, lab, limits: execute(
        sub, lab, lab.kernel_env(dict(os.environ)), limits.cell_timeout, limits.notebook_timeout)),
    Stage("stop leftovers", lambda sub, lab, _limits: stop_leftovers(sub, lab)),
    Stage("note the sandbox's limits", lambda sub, lab, _limits: note_limits(sub, lab)),
    Stage("verify the rest", lambda sub, lab, _limits: finish(sub, lab)),
)


def run(sub: Submission, lab: GradingLab, limits: Limits) -> None:
    """Run every stage of `STAGES` on a valid submission in its lab."""
    for stage in STAGES:
        stage.run(sub, lab, limits)


__all__ = [
    "GRADER_SAYS", "STAGES", "GradingLab", "Limits", "Sandboxing", "Stage", "Submission", "checks_in", "course_packages_held",
    "dismantle", "execute",
    "exercises_of", "finish", "lesson_of", "notebook_of", "note_limits", "prepare", "sandbox_engine", "run", "seed_registry", "seeded_registry", "slug", "stop_leftovers",
    "validate", "verify",
]
