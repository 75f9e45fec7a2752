"""Running exercises: look one up, run its check, score it, record it (`check`); show the next hint.

The notebook API, `labkit check` and the grader all come through here, so an exercise
is checked the same way wherever it is checked.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import LabkitError
from ..labs import space
from . import catalog
from ._context import LabContext
from ._progress import ProgressStore, Standing
from ._results import ERROR, FAILED, CheckResult
from .catalog import Exercise


def fill(text: str, ctx: LabContext) -> str:
    """Put the lab's own values into a hint or a command: {registry}, {user}, {workspace}, {password_file}
    (and the {lab.…} spelling that notebooks use)."""
    values = {
        "registry": ctx.registry_address,
        "user": ctx.user,
        "workspace": str(ctx.workspace),
        "password_file": str(ctx.paths.password_file),
    }
    for name, value in values.items():
        text = text.replace(f"{{lab.{name}}}", value).replace(f"{{{name}}}", value)
    return text


@dataclass(frozen=True)
class Checked:
    exercise: Exercise  # looked up once: the notebook's hint button reads it too
    result: CheckResult


def check(
    ctx: LabContext,
    exercise_id: str,
    answer: Any = None,
    store: ProgressStore | None = None,
    source: str = "notebook",
    record: str = "all",
) -> Checked:
    """Check one exercise against the lab as it is now: one lookup of the exercise, one read of its
    standing in the store (hints shown, since when its lesson counts) and one write of the result
    (`record`: "all", "passes" only, or "none"). Raises UnknownExercise for an unknown id; a lab
    problem (engine down, registry down) comes back as a result with status "error", and is not
    recorded."""
    exercise = catalog.get(exercise_id)
    standing = store.standing(exercise.id) if store is not None else None
    made: list[str] = []
    try:
        with ctx.engine.consistent():
            result = exercise.check(ctx, answer)
            made = _made(ctx, exercise, standing)  # in the same block: the check's own reads are reused
    except LabkitError as e:
        result = CheckResult.error(str(e))
    if result.status == FAILED and source != "grader":  # a graded lab's space is the submission's own to fill
        result = _blame_a_full_disk(ctx, result)
    shown = standing.hints_shown if standing else 0
    scored = result.scored(exercise.id, exercise.title, exercise.points, max(0, len(exercise.hints) - shown))
    if store is not None and scored.status != ERROR and (record == "all" or (record == "passes" and scored.passed)):
        store.record_check(scored, source, made)
    return Checked(exercise, scored)


def run_check(
    ctx: LabContext, exercise_id: str, answer: Any = None, store: ProgressStore | None = None, source: str = "notebook"
) -> CheckResult:
    """`check`'s result alone (the grader's and `labkit check`'s way in)."""
    return check(ctx, exercise_id, answer, store, source).result


def _made(ctx: LabContext, exercise: Exercise, standing: Standing | None) -> list[str]:
    """What the check saw made during the lesson, for `labkit reset` (nothing when no store records it)."""
    if standing is None or exercise.resources.finder is None:
        return []
    try:
        # a lab with no record yet began now: what was made before it is never the lesson's
        return made_in_lesson(ctx, exercise, standing.lesson_began or time.time())
    except LabkitError:
        return []  # the check's result stands; the containers are claimed at a later check


def _blame_a_full_disk(ctx: LabContext, result: CheckResult) -> CheckResult:
    """A check that fails while the lab's disk is nearly full reports that (a build or pull of the
    learner's may have failed for want of space): a lab problem, not a failed exercise."""
    try:
        info = None if ctx.state.engine.managed else ctx.engine.info()
    except LabkitError:
        info = None
    lows = space.low_space(space.places(ctx.paths, ctx.state.engine, info))
    return CheckResult.error(f"{space.problem(lows)}\n(The check said: {result.feedback})") if lows else result


#: The names Docker makes up for a container run without --name: adjective_surname, and a digit
#: when that name was taken (moby's namesgenerator). A name of the learner's never comes from the lab.
GENERATED_NAME = re.compile(r"[a-z]+_[a-z]+[0-9]?")


def made_in_lesson(ctx: LabContext, exercise: Exercise, since: float) -> list[str]:
    """The ids of the unnamed containers of the exercise's kind (its resources' finder) made since
    `since`: what `labkit reset` of the lesson may remove besides the containers the course names."""
    found = exercise.resources.finder(ctx) if exercise.resources.finder else []
    return [
        box["Id"]
        for box in found
        if GENERATED_NAME.fullmatch(box.get("Name", "").lstrip("/")) and _created(box) >= since
    ]


def _created(box: dict) -> float:
    """A container's creation time (the engine's `Created`, RFC 3339 in UTC) in epoch seconds."""
    stamp = str(box.get("Created") or "")[:19]
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


def next_hint(ctx: LabContext, exercise: Exercise, store: ProgressStore) -> tuple[int, str | None]:
    """(number, text) of the next hint not yet shown, recorded as shown; (total, None) when all were."""
    shown = store.hints_shown(exercise.id)
    if shown >= len(exercise.hints):
        return len(exercise.hints), None
    number = shown + 1
    store.record_hint(exercise.id, number)
    return number, fill(exercise.hints[number - 1], ctx)
