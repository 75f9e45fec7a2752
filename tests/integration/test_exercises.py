"""Every exercise of the catalog, walked through on a real lab: its check fails while the
exercise is not done (with feedback a learner can act on) and passes once its solution ran.

Each lesson starts from `labkit reset` of the whole course, as a learner starting there would.
"""

from __future__ import annotations

import pytest

from conftest import run
from labkit import _catalog
from labkit._exercises import fill, run_check
from labkit._progress import ProgressStore
from labkit._reset import reset


def shell(lab, ctx, commands: tuple[str, ...]) -> None:
    for command in commands:
        run(["bash", "-c", fill(command, ctx)], env=lab.env, timeout=600)


@pytest.mark.parametrize("lesson", [name for name, _notebook, _title in _catalog.LESSONS])
def test_each_check_fails_undone_and_passes_done(lab, ctx, lesson):
    reset(ctx)
    store = ProgressStore.for_paths(ctx.paths)
    for exercise in _catalog.lesson(lesson):
        shell(lab, ctx, exercise.setup)
        before = run_check(ctx, exercise.id, None, store)
        assert before.status == "failed", f"{exercise.id} passed before it was done:\n{before}"
        assert len(before.feedback) > 20 and before.points == 0
        shell(lab, ctx, exercise.solution)
        after = run_check(ctx, exercise.id, exercise.solution_answer, store)
        assert after.passed, f"{exercise.id} failed after its solution:\n{after}"
        assert after.points == exercise.points
        assert run_check(ctx, exercise.id, exercise.solution_answer, store).passed  # checking twice changes nothing
    rows = {row.lesson: row for row in store.summary(_catalog.EXERCISES)}
    assert rows[lesson].done == rows[lesson].total


def test_catalog_points_match_their_criteria():
    capstone = _catalog.get("capstone.site")
    assert capstone.points == 10
    ids = [e.id for e in _catalog.EXERCISES]
    assert len(ids) == len(set(ids))
    assert all(e.hints and e.solution and e.title and e.task for e in _catalog.EXERCISES)
