"""The tracker cell every lesson notebook carries, its stored output kept in the learner copies, and
the trust the lab's JupyterLab gives a notebook only while that output is its only one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary
from nbformat.v4 import new_output

from labkit.course import catalog, release
from labkit.ui import render, tracking

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def tracker_cells(nb):
    return [c for c in nb.cells if release.TRACKER_TAG in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_lesson_has_one_tracker_cell_after_ready_with_todays_stored_output(path):
    nb = nbformat.read(path, as_version=4)
    lesson = nb.metadata.labkit.lesson
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[1].source == f'lab.track("{lesson}")' and tracker_cells(nb) == [code[1]]
    assert code[1].execution_count is not None  # nbval refuses the outputs of a cell never run
    # a catalog change (a title, an exercise) changes it: `python -m authoring.build` writes it again
    assert code[1].outputs == [tracking.stored_output(lesson)], f"rebuild {path.name}: python -m authoring.build"


def test_the_learner_copy_keeps_the_trackers_stored_output_and_clears_every_other(tmp_path):
    released = release.release(REPO / "notebooks", tmp_path / "learner")
    for item in released:
        nb = nbformat.read(item.path, as_version=4)
        assert tracking.only_trackers(nb), item.name
        assert [c.outputs for c in tracker_cells(nb)] == [[tracking.stored_output(nb.metadata.labkit.lesson)]]


def test_the_stored_tracker_shows_every_exercise_not_yet_and_says_how_to_make_it_live():
    output = tracking.stored_output("layers")
    text, page = output["data"]["text/plain"], output["data"]["text/html"]
    assert "Lesson layers: 0 of" in text
    for exercise in catalog.lesson("layers"):
        assert exercise.id in text and f'data-exercise="{exercise.id}"' in page
    assert 'data-lesson="layers"' in page and render.TRACKER_PATH in page and "labkit lab" in page


@pytest.fixture
def notary(tmp_path):
    return NotebookNotary(db_file=str(tmp_path / "trust.db"), secret=b"course")


def test_only_the_course_notebooks_as_released_are_trusted(tmp_path, notary):
    workspace = tmp_path / "workspace"
    release.release(REPO / "notebooks", workspace)
    ran = nbformat.read(workspace / "01-what-is-an-image.ipynb", as_version=4)  # the learner ran a cell
    next(c for c in ran.cells if c.cell_type == "code" and not c.outputs).outputs = [
        new_output("display_data", data={"text/html": "<script>alert(1)</script>"})
    ]
    nbformat.write(ran, workspace / "01-what-is-an-image.ipynb")
    forged = nbformat.read(workspace / "02-image-vs-container.ipynb", as_version=4)  # a script in the tracker
    tracker_cells(forged)[0].outputs[0]["data"]["text/html"] += "<script>alert(2)</script>"
    nbformat.write(forged, workspace / "02-image-vs-container.ipynb")
    (workspace / "mine.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))  # not the course's
    (workspace / "broken.ipynb").write_text("{not json")

    signed = tracking.trust_course_notebooks(workspace, notary)

    assert "01-what-is-an-image.ipynb" not in signed and "02-image-vs-container.ipynb" not in signed
    assert "mine.ipynb" not in signed and "broken.ipynb" not in signed
    assert set(signed) == {p.name for p in NOTEBOOKS} - {"01-what-is-an-image.ipynb", "02-image-vs-container.ipynb"}
    assert notary.check_signature(nbformat.read(workspace / "00-start-here.ipynb", as_version=4))
    assert not notary.check_signature(ran)
    assert tracking.trust_course_notebooks(workspace, notary) == []  # signed once: nothing the second time


class FakeTracker:
    def __init__(self, rows):
        self.state = {row.exercise.id: row for row in rows}
        self.stopped = False

    def stop(self):
        self.stopped = True


def test_an_ask_waits_for_the_next_change_and_idle_feeds_stop():
    from labkit.course import live

    async def scenario():
        feeds = tracking.Feeds()
        feed = feeds.feed("start")
        rows = [live.Tracked(e, None) for e in catalog.lesson("start")]
        feed.tracker, feed.rows = FakeTracker(rows), rows
        first = await feed.answer(-1)
        assert first["version"] == 0 and first["exercises"] == {"start.pull": "not checked"}
        waiting = asyncio.ensure_future(feed.answer(0))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # nothing changed: the ask waits
        feed._changed_elsewhere([live.Tracked(rows[0].exercise, None, passed_before=True)])
        second = await asyncio.wait_for(waiting, 2)
        assert second["version"] == 1 and second["exercises"] == {"start.pull": "passed earlier"}
        assert (await feed.answer(1, wait=0.05))["version"] == 1  # no change: answered after the wait
        tracker = feed.tracker
        assert feeds.stop_idle(now=feed.asked + tracking.IDLE + 1) == ["start"] and tracker.stopped

    asyncio.run(scenario())
