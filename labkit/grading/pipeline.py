"""The grader as a pipeline: a submission goes through these stages, in this order, each a function
of its own module (as nbgrader lists its preprocessors):

    read and validate    validate.read          the notebook read once; what is wrong, in nbformat's words
    make the lab         labs.make              a fresh lab of its own: a sandbox (labkit.labs.fresh)
    run the notebook     execute.run_notebook   cell by cell in a kernel like a learner's, each
                                                checkpoint verified as it passes; then what it left
                                                running stopped, the limits it ran into noted
    verify from outside  verify.from_outside    what it never checked, checked by the grader itself
    give the lab back    labs.give_back         taken down in the background
    score                score.score            its row, and its graded copy

and, once every submission of a run has its row, `report.write_all` writes the reports (run.py).
A stage not marked `always` runs only while the submission can still be graded: an invalid
notebook gets no lab, and a fault of the lab's (a `LabkitError`) or of the grader's is the
submission's problem, "infrastructure", never its score. Nothing the notebook prints, displays or
does to `labkit` inside its kernel counts: the grader runs each check itself.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import LabkitError
from . import execute, labs, score, validate, verify
from .job import Job, Limits
from .supply import LabSupply


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Job], None]
    always: bool = False  # also for a submission that cannot be graded (invalid, or its lab failed)


STAGES: tuple[Stage, ...] = (
    Stage("read and validate", validate.read, always=True),
    Stage("make the lab", labs.make),
    Stage("run the notebook", execute.run_notebook),
    Stage("verify from outside", verify.from_outside),
    Stage("give the lab back", labs.give_back, always=True),
    Stage("score", score.score, always=True),
)


def grade_one(
    path: str,
    supply: LabSupply,
    more: bool,
    out: str,
    cell_timeout: int,
    notebook_timeout: int,
    who: dict | None = None,
) -> dict:
    """Grade one submission (the file at `path`: the grader's copy of the one `who` names) through
    `STAGES`, in a lab from `supply`; its row. Never raises: a fault becomes the submission's problem.
    `more`: another submission follows, so the next lab may start now."""
    job = Job(Path(path), who or {}, supply, more, Limits(cell_timeout, notebook_timeout), Path(out))
    for stage in STAGES:
        if stage.always or job.sub.graded:
            try:
                stage.run(job)
            except LabkitError as e:
                job.sub.problem, job.sub.infrastructure = f"the lab failed while grading: {e.message}", True
            except Exception as e:  # noqa: BLE001 - one submission must never stop the batch
                job.sub.problem = f"the grader failed on it: {type(e).__name__}: {e}"
                job.sub.infrastructure = True
                job.sub.events.append(traceback.format_exc(limit=3))
    return job.row
