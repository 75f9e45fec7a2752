"""The grader as a pipeline of stages, declared as data (as nbgrader lists its preprocessors), one
module per stage:

    validate (validate.py) → prepare a fresh lab, a sandbox (`labkit.lab.fresh`) → execute cell by cell
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
from pathlib import Path
from typing import Callable

from ..course import catalog
from ..home import RegistryState
from ..lab import FreshLab, Sandboxing, fresh
from .execute import execute
from .validate import Submission, checks_in, exercises_of, lesson_of, notebook_of, validate
from .verify import GRADER_SAYS, finish, slug, verify


def prepare(
    home: Path, mirror: RegistryState, cache: Path, seeded=None, sandboxing: Sandboxing | None = None
) -> FreshLab:
    """A fresh lab for one submission (`labkit.lab.fresh.prepare`), its registry seeded for the course."""
    return fresh.prepare(home, mirror, cache, catalog.registry_repositories, seeded, sandboxing)


def seeded_registry(home: Path, mirror: RegistryState, cache: Path) -> Path:
    """The registry storage every lab of a run starts from (`labkit.lab.fresh.seeded_registry`)."""
    return fresh.seeded_registry(home, mirror, cache, catalog.registry_repositories)


dismantle = fresh.dismantle


def stop_leftovers(sub: Submission, lab: FreshLab) -> None:
    """Stop what the notebook left running after its kernel ended (`!cmd &`, `nohup …`): nothing of a
    submission may change its lab once its cells are done, nor outlive its grading."""
    if count := fresh.kill_leftovers(lab):
        sub.events.append(f"the notebook left {count} process(es) running after its last cell: they were stopped")


def note_limits(sub: Submission, lab: FreshLab) -> None:
    """What the submission's sandbox ran into (memory, processes, disk), and the most memory it used."""
    if lab.sandbox is None:
        return
    hit = lab.sandbox.limits_hit()
    sub.events += [f"the submission {words}: its sandbox stopped it there" for words in hit]
    sub.limits_hit += hit
    sub.peak_memory = lab.sandbox.peak_memory()


@dataclass(frozen=True)
class Limits:
    cell_timeout: int  # seconds one cell may run
    notebook_timeout: int  # seconds the whole notebook may run


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Submission, FreshLab, Limits], None]


STAGES: tuple[Stage, ...] = (
    Stage(
        "execute",
        lambda sub, lab, limits: execute(
            sub, lab, lab.kernel_env(dict(os.environ)), limits.cell_timeout, limits.notebook_timeout
        ),
    ),
    Stage("stop leftovers", lambda sub, lab, _limits: stop_leftovers(sub, lab)),
    Stage("note the sandbox's limits", lambda sub, lab, _limits: note_limits(sub, lab)),
    Stage("verify the rest", lambda sub, lab, _limits: finish(sub, lab)),
)


def run(sub: Submission, lab: FreshLab, limits: Limits) -> None:
    """Run every stage of `STAGES` on a valid submission in its lab."""
    for stage in STAGES:
        stage.run(sub, lab, limits)


__all__ = [
    "GRADER_SAYS",
    "STAGES",
    "FreshLab",
    "Limits",
    "Sandboxing",
    "Stage",
    "Submission",
    "checks_in",
    "dismantle",
    "execute",
    "exercises_of",
    "finish",
    "lesson_of",
    "notebook_of",
    "note_limits",
    "prepare",
    "run",
    "seeded_registry",
    "slug",
    "stop_leftovers",
    "validate",
    "verify",
]
