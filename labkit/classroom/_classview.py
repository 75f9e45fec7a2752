"""The instructor's class view as data: learners by exercises, who is stuck, the pass rate per exercise.

Read from each learner's progress store (what their checks and hints recorded since each lesson's
last reset), so it shows what the learner saw: passed, failed with the feedback of their last
check, or not tried; hints used. A learner is stuck on an exercise when its last `STUCK_FAILURES`
checks failed in a row, and stuck as a whole when no exercise was newly passed for `IDLE_SECONDS`
while some are left. Rendering (the page, CSV) is separate from this data.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Iterable, Protocol

from ..course import ProgressStore

STUCK_FAILURES = 3
IDLE_SECONDS = 600.0

PASSED, FAILED, NOT_TRIED = "passed", "failed", "not tried"


class _ExerciseLike(Protocol):
    id: str
    title: str


@dataclass
class Cell:
    status: str = NOT_TRIED
    feedback: str = ""  # the last check's, as the learner saw it
    attempts: int = 0
    hints: int = 0
    stuck: bool = False  # the last STUCK_FAILURES checks failed


@dataclass
class LearnerRow:
    name: str
    cells: dict[str, Cell]
    last_activity: float | None  # epoch seconds of the last check or hint; None: nothing yet
    stuck: list[str] = field(default_factory=list)  # why, in words; empty when not stuck
    problem: str = ""  # why their last lab did not start ("" when it did)

    @property
    def done(self) -> int:
        return sum(1 for cell in self.cells.values() if cell.status == PASSED)


@dataclass
class ClassView:
    exercises: list[tuple[str, str]]  # (id, title), in course order
    learners: list[LearnerRow]
    now: float

    @property
    def pass_rate(self) -> dict[str, float]:
        """The share of learners who passed each exercise (0 with no learners)."""
        count = len(self.learners)
        return {
            ex: (sum(1 for row in self.learners if row.cells[ex].status == PASSED) / count if count else 0.0)
            for ex, _title in self.exercises
        }

    def to_dict(self) -> dict:
        return {
            "now": self.now,
            "exercises": [{"id": ex, "title": title, "pass_rate": self.pass_rate[ex]} for ex, title in self.exercises],
            "learners": [
                {
                    "name": row.name,
                    "done": row.done,
                    "last_activity": row.last_activity,
                    "stuck": row.stuck,
                    "problem": row.problem,
                    "cells": {ex: asdict(cell) for ex, cell in row.cells.items()},
                }
                for row in self.learners
            ],
        }

    def to_csv(self) -> str:
        """One row per learner and exercise: what a spreadsheet needs to follow up after class."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["learner", "exercise", "status", "attempts", "hints", "stuck", "last feedback"])
        for row in self.learners:
            for ex, _title in self.exercises:
                cell = row.cells[ex]
                writer.writerow(
                    [row.name, ex, cell.status, cell.attempts, cell.hints, "yes" if cell.stuck else "", cell.feedback]
                )
        return out.getvalue()


def learner_row(name: str, store: ProgressStore, exercises: Iterable[_ExerciseLike], now: float) -> LearnerRow:
    checks, hints = store.since_reset()
    ids = [exercise.id for exercise in exercises]
    cells = {ex: Cell(hints=hints.get(ex, 0)) for ex in ids}
    first_pass: dict[str, float] = {}
    for check in checks:
        cell = cells.get(check["exercise"])
        if cell is None:  # an exercise no longer in the course
            continue
        cell.attempts += 1
        cell.feedback = check["feedback"]
        if check["passed"]:
            cell.status = PASSED
            first_pass.setdefault(check["exercise"], check["time"])
        elif cell.status != PASSED:
            cell.status = FAILED
    for ex in ids:
        trail = [c["passed"] for c in checks if c["exercise"] == ex][-STUCK_FAILURES:]
        cells[ex].stuck = len(trail) == STUCK_FAILURES and not any(trail)
    times = [c["time"] for c in checks]
    last_activity = max(times) if times else None
    row = LearnerRow(name, cells, last_activity)
    row.stuck = [f"{ex}: failed {STUCK_FAILURES} times in a row" for ex in ids if cells[ex].stuck]
    if times and row.done < len(ids):
        since = max(first_pass.values(), default=min(times))
        if now - since >= IDLE_SECONDS:
            row.stuck.append(f"no exercise passed for {int((now - since) // 60)} minutes")
    return row


def class_view(stores: dict[str, ProgressStore], exercises: Iterable[_ExerciseLike], now: float) -> ClassView:
    """The class as it is `now`: one row per learner (by name), the exercises in course order."""
    exercises = list(exercises)
    rows = [learner_row(name, stores[name], exercises, now) for name in sorted(stores)]
    return ClassView([(e.id, e.title) for e in exercises], rows, now)
