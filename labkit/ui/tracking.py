"""The lab's JupyterLab keeps each open lesson's tracker itself: a Jupyter server extension.

A learner who opens a lesson and types `docker pull busybox` in a JupyterLab terminal sees the
exercise tick off without running a cell: the tracker runs in the server, not in a kernel. Every
lesson notebook's tracker cell holds, as its stored output, the tracker's table and a small script
(`render.tracker_live_bundle`); the script asks `GET <base>labkit/track/<lesson>?since=<version>`,
and the answer waits (at most `LONGEST_WAIT`) until the lesson's state differs from `version`. The
first ask starts the lesson's `live.Tracker` (engine events, the learner's files); one nobody has
asked about for `IDLE` seconds is stopped. Its passes go to the progress store as a kernel's
tracker's do (source "tracker"), so `lab.progress()` and the class view see them.

JupyterLab runs a stored output's script only in a trusted notebook. The course notebooks are
trusted here, when the server starts, with the server's own notary, and only while their outputs
are nothing but the tracker's stored one (`trust_course_notebooks`): a notebook with any other
output (one the learner's run produced, which JupyterLab signs itself, or one put there by hand)
is left as Jupyter finds it. The file is never written: a signature lives in the notary's store.

    jupyter lab --ServerApp.jpserver_extensions='{"labkit.ui.tracking": true}'   (labs.jupyter does it)
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import nbformat

from ..course import LabContext, ProgressStore, catalog, live
from ..course.release import TRACKER_TAG
from ..errors import LabkitError
from . import render

LONGEST_WAIT = 20.0  # seconds an ask waits for a change before it is answered with the state as it is
IDLE = 90.0  # seconds a lesson's tracker runs on with nobody asking (a closed notebook)
RETRY = 5  # seconds the page waits before asking again when the lab could not be reached


def stored_output(lesson: str) -> dict:
    """The tracker cell's stored output in every lesson notebook: the table with nothing checked yet,
    and the script that makes it live (authoring writes it; trust is given only to notebooks whose
    outputs are these)."""
    rows = [live.Tracked(exercise, None) for exercise in catalog.lesson(lesson)]
    return nbformat.v4.new_output("display_data", data=render.tracker_live_bundle(lesson, rows))


def only_trackers(nb: nbformat.NotebookNode) -> bool:
    """Is every output of the notebook the stored output of its lesson's tracker (none else at all)?"""
    lesson = nb.get("metadata", {}).get("labkit", {}).get("lesson", "")
    try:
        expected = stored_output(lesson)
    except LabkitError:
        return False
    for cell in nb.cells:
        outputs = cell.get("outputs") or []
        if cell.get("cell_type") != "code" or not outputs:
            continue
        if TRACKER_TAG not in cell.get("metadata", {}).get("tags", []):
            return False
        if [(o.get("output_type"), o.get("data")) for o in outputs] != [("display_data", expected["data"])]:
            return False
    return True


def trust_course_notebooks(folder: Path, notary, log=None) -> list[str]:
    """Sign (in `notary`'s store) each notebook directly in `folder` that is not trusted yet and whose
    only outputs are its tracker's stored one; the names signed."""
    signed = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as e:  # noqa: BLE001 - a learner's broken notebook is theirs: Jupyter says what is wrong
            if log is not None:
                log.debug("labkit: %s not read for trust: %s", path.name, e)
            continue
        if not nb.get("metadata", {}).get("labkit") or notary.check_signature(nb) or not only_trackers(nb):
            continue
        notary.sign(nb)
        signed.append(path.name)
    return signed


class Feed:
    """One lesson's tracker and its state as the pages see it: a version that goes up at each change,
    and the asks waiting for the next one."""

    def __init__(self, lesson: str, loop: asyncio.AbstractEventLoop) -> None:
        self.lesson, self.loop = lesson, loop
        self.version, self.asked = 0, time.monotonic()
        self.problem = ""
        self._waiting: list[asyncio.Future] = []
        self.tracker: live.Tracker | None = None
        self.rows: list = []

    def start(self) -> None:
        """The lesson's tracker, running; a lab that is not up (or another LabkitError) is kept as the
        feed's problem, shown on the page until an ask after `RETRY` finds the lab."""
        try:
            store = ProgressStore.for_paths(LabContext.from_env().paths)
            self.tracker = live.Tracker(self.lesson, LabContext.from_env, store, self._changed_elsewhere)
        except LabkitError as e:
            self.problem = str(e)
            return
        self.problem, self.rows = "", list(self.tracker.state.values())
        self.tracker.start()

    def stop(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()
            self.tracker = None

    def _changed_elsewhere(self, rows: list) -> None:  # the tracker's thread
        self.loop.call_soon_threadsafe(self._changed, rows)

    def _changed(self, rows: list) -> None:
        self.rows, self.version = rows, self.version + 1
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    async def answer(self, since: int, wait: float = LONGEST_WAIT) -> dict[str, Any]:
        """The state, once it differs from `since` (or after `wait` seconds)."""
        self.asked = time.monotonic()
        if self.tracker is None:
            self.start()
        if self.problem:
            return {
                "version": -2,
                "html": render.problem_bundle(self.problem)["text/html"],
                "retry": RETRY,
                "problem": self.problem,
            }
        if since == self.version:
            future = self.loop.create_future()
            self._waiting.append(future)
            try:
                await asyncio.wait_for(future, wait)
            except asyncio.TimeoutError:
                pass
        self.asked = time.monotonic()
        return self.state()

    def state(self) -> dict[str, Any]:
        rows = self.rows
        return {
            "version": self.version,
            "lesson": self.lesson,
            "html": render.tracker_html(self.lesson, rows),
            "text": render.tracker_text(self.lesson, rows),
            "exercises": {row.exercise.id: _state_of(row) for row in rows},
        }


def _state_of(row) -> str:
    if row.passed_earlier:
        return "passed earlier"
    if row.result is None:
        return "not checked"
    return "passed" if row.result.passed else row.result.status


class Feeds:
    """The server's lesson feeds, made at the first ask about a lesson, stopped when idle."""

    def __init__(self) -> None:
        self._feeds: dict[str, Feed] = {}

    def feed(self, lesson: str) -> Feed:
        if lesson not in self._feeds:
            self._feeds[lesson] = Feed(lesson, asyncio.get_running_loop())
        return self._feeds[lesson]

    def stop_idle(self, now: float | None = None, idle: float = IDLE) -> list[str]:
        now = time.monotonic() if now is None else now
        gone = [lesson for lesson, feed in self._feeds.items() if now - feed.asked > idle]
        for lesson in gone:
            self._feeds.pop(lesson).stop()
        return gone

    def stop(self) -> None:
        for feed in self._feeds.values():
            feed.stop()
        self._feeds.clear()


def _handler(feeds: Feeds):
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class TrackHandler(APIHandler):
        @web.authenticated
        async def get(self, lesson: str) -> None:
            if lesson not in catalog.TITLES:
                raise web.HTTPError(404, f"no lesson {lesson!r}")
            try:
                since = int(self.get_query_argument("since", "-1"))
            except ValueError:
                raise web.HTTPError(400, "since is a number (the version the page shows)") from None
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(await feeds.feed(lesson).answer(since)))

    return TrackHandler


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "labkit.ui.tracking"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.utils import url_path_join
    from tornado.ioloop import PeriodicCallback

    feeds = Feeds()
    web_app = serverapp.web_app
    pattern = url_path_join(web_app.settings["base_url"], render.TRACKER_PATH, r"([a-z0-9_-]+)")
    web_app.add_handlers(".*$", [(pattern, _handler(feeds))])
    PeriodicCallback(feeds.stop_idle, 15_000).start()
    try:
        signed = trust_course_notebooks(Path(serverapp.root_dir), serverapp.contents_manager.notary, serverapp.log)
    except Exception as e:  # noqa: BLE001 - no trust store: the trackers show their table, not live
        serverapp.log.warning("labkit: the course notebooks were not marked trusted: %s", e)
    else:
        if signed:
            serverapp.log.info("labkit: trusted the course notebooks as released: %s", ", ".join(signed))
    serverapp.log.info("labkit: lesson trackers at %s", pattern)
