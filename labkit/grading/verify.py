"""Verify: each exercise checked by the grader itself, from its own process, against the submission's
engine (what the notebook printed does not count), at its checkpoint or at the end; the graded copy
shows the grader's results.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import nbformat

from ..course import ERROR, FAILED, PASSED, CheckResult, LabContext, run_check
from ..labs import FreshLab
from ..machine import processes
from ..ui import result_text
from .job import Job, Submission
from .validate import exercises_of


def verify(ctx: LabContext, exercise: str, answer) -> CheckResult:
    return run_check(ctx, exercise, answer, store=None, source="grader")


def verify_into(
    sub: Submission, ctx: LabContext, exercise: str, answer, cell: int | None, cell_seconds: float | None
) -> None:
    started = time.monotonic()
    sub.answers[exercise] = answer
    sub.results[exercise] = result = verify(ctx, exercise, answer)
    sub.timings[exercise] = {
        "cell": cell,
        "cell_seconds": None if cell_seconds is None else round(cell_seconds, 3),
        "check_seconds": round(time.monotonic() - started, 3),
    }
    if cell is not None:  # the graded copy shows, under the kernel's own output, what counts
        sub.notebook.cells[cell].outputs.append(
            nbformat.v4.new_output("stream", name="stdout", text=f"{GRADER_SAYS}\n{result_text(result)}\n")
        )


#: Above the grader's own result in a graded notebook: the kernel's output above it may say otherwise.
GRADER_SAYS = "── labkit grade checked this itself (what the notebook printed above does not count) ──"


def _show_end_checks(sub: Submission, exercises: list[str]) -> None:
    """A last cell in the graded copy with the results of the exercises checked at the end."""
    text = "\n\n".join(result_text(sub.results[e]) for e in exercises)
    cell = nbformat.v4.new_markdown_cell(
        "**Checked by `labkit grade` at the end** (the notebook never checked these: its check cell "
        f"was deleted, edited or never reached):\n\n```text\n{text}\n```"
    )
    if sub.notebook.get("nbformat_minor", 0) < 5:
        del cell["id"]  # cell ids came with format 4.5: an older notebook must stay valid
    sub.notebook.cells.append(cell)


def from_outside(job: Job) -> None:
    """Stage "verify from outside": every exercise the notebook never checked, checked now (`finish`)."""
    finish(job.sub, job.lab)


def finish(sub: Submission, lab: FreshLab) -> None:
    """Check, at the end, every exercise the notebook never checked (its check cell deleted, or never
    reached). A submission that ran into its own limits is graded all the same: what could not be
    checked while it did is checked once more now, and what still cannot be, or is not done, says
    which limit in its feedback. Only a lab fault with no limit hit is the grading machine's."""
    ctx = LabContext(lab.paths, lab.state, lab.workspace, lab.docker_config)
    at_end = []
    try:
        for exercise in exercises_of(sub.notebook, sub.name):
            if exercise not in sub.results:
                verify_into(sub, ctx, exercise, None, cell=None, cell_seconds=None)
                sub.events.append(f"{exercise} was never checked in the notebook: checked at the end")
                at_end.append(exercise)
        if sub.limits_hit:  # its processes are stopped by now: its lab may answer again
            for exercise in [e for e, r in sub.results.items() if r.status == ERROR]:
                sub.results[exercise] = verify(ctx, exercise, sub.answers.get(exercise))
    finally:
        ctx.close()
    if sub.limits_hit:
        for exercise, result in sub.results.items():
            sub.results[exercise] = blame_limits(result, sub.limits_hit)
    if at_end:
        _show_end_checks(sub, at_end)
    errors = [r for r in sub.results.values() if r.status == ERROR]
    if errors:
        sub.problem = f"the lab failed while grading: {errors[0].feedback.splitlines()[0]}"
        sub.infrastructure = True
        if tail := processes.log_tail(lab.engine_log, 40):  # why, for whoever mends the grading machine
            sub.events.append(f"the end of the lab's engine log ({lab.engine_log}):\n{tail}")


def blame_limits(result: CheckResult, limits_hit: list[str]) -> CheckResult:
    """An exercise's result in a submission that ran into its limits: a check its lab could not answer
    is not done (never "infrastructure": a submission must not turn its zero into a lab fault), and
    the feedback of anything not done names the limit."""
    if result.status == PASSED:
        return result
    said = " and ".join(limits_hit)
    if result.status == ERROR:
        return replace(
            result,
            status=FAILED,
            points=0.0,
            feedback=(
                f"Not checked: this submission {said}, and its lab could not answer the check after that "
                f"({result.feedback.splitlines()[0]}). Work that cannot be checked counts as not done."
            ),
        )
    return replace(
        result, feedback=f"{result.feedback}\n\nThis submission {said}: its work after that point was not done."
    )


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60] or "submission"
