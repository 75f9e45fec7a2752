"""Checks that run themselves: a lesson's exercises re-checked as the learner works.

What wakes a check is told, not looked for: the engine's event stream (`/events`: pulls, tags,
builds, commits, pushes, container create/start/die/destroy), the course registry's own events
(Distribution's notifications, kept in a file: labkit.registries.events) and the learner's Docker
config and workspace (inotify where the kernel has it). Each exercise declares in the catalog which of these
can change its result (`Exercise.wakes`); an event wakes only those of the tracked lesson, and a
burst of events (a build tags, a run creates and starts) is one re-check once it has been quiet
for a moment (`Debounce`). When the stream drops (the engine restarted) the tracker connects
again and re-checks every exercise once.

A pass is recorded in the progress store as the check cell records one (source "tracker"), so
`lab.progress()` and the class view see it; a failure is not recorded (the learner did not ask).
What the tracker shows is the state now, and "passed earlier" where the store has a pass that the
state no longer holds. Grading does not use this: the grader checks once, from outside, at the end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..errors import LabkitError
from ..registries import programs
from . import catalog
from ._context import LabContext
from ._progress import ProgressStore
from ._results import CheckResult
from .catalog import Exercise

#: The engine's actions that change nothing a check reads (a read of a container's files, as the
#: checks themselves make, included). An exec's end (exec_die) and a copy in (extract-to-dir) do.
_QUIET_ACTIONS = (
    "exec_create",
    "exec_start",
    "exec_detach",
    "attach",
    "resize",
    "top",
    "health_status",
    "archive-path",
)


def wakes_of(event: dict, own_label: str = "labkit") -> set[str]:
    """What an engine event (as /events streams it: Type, Action, Actor.Attributes) can change:
    "image", "container" (and "registry" for a push). The containers labkit's own checks make
    (labelled `own_label`) change nothing, or a check would wake itself."""
    kind = event.get("Type") or event.get("type") or ""
    action = str(event.get("Action") or event.get("status") or "")
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    if own_label in attributes or action.startswith(_QUIET_ACTIONS):
        return set()
    if kind == "image":
        return {"image", "registry"} if action == "push" else {"image"}
    if kind == "container":
        return {"container", "image"} if action == "commit" else {"container"}
    return set()


def woken(exercises: Iterable[Exercise], wakes: set[str]) -> list[Exercise]:
    """The exercises whose result `wakes` can change, in course order."""
    return [e for e in exercises if wakes.intersection(e.wakes)]


class Debounce:
    """Wakes gathered until the events have been quiet for `quiet` seconds (a build's burst is one
    re-check), but never held longer than `longest` after the first."""

    def __init__(self, quiet: float = 0.15, longest: float = 0.6) -> None:
        self.quiet, self.longest = quiet, longest
        self._wakes: set[str] = set()
        self._first = self._last = 0.0

    def add(self, wakes: set[str], now: float) -> None:
        if not wakes:
            return
        if not self._wakes:
            self._first = now
        self._wakes |= wakes
        self._last = now

    def wait(self, now: float) -> float | None:
        """Seconds until what was gathered is due (0: now); None when nothing waits."""
        if not self._wakes:
            return None
        return max(0.0, min(self._last + self.quiet, self._first + self.longest) - now)

    def take(self, now: float) -> set[str]:
        """What is due now (emptied), else an empty set."""
        if self.wait(now) != 0.0:
            return set()
        wakes, self._wakes = self._wakes, set()
        return wakes


@dataclass(frozen=True)
class Tracked:
    """One exercise as the tracker shows it: its check's result now, and whether a pass of it is
    on record (it "passed earlier" when the result now is not a pass)."""

    exercise: Exercise
    result: CheckResult | None  # None: not checked yet (answered in words: the check cell only)
    passed_before: bool = False

    @property
    def passed_earlier(self) -> bool:
        return self.passed_before and (self.result is None or not self.result.passed)


Changed = Callable[[list[Tracked]], None]


class Tracker:
    """Re-checks `lesson`'s exercises when the engine or the learner's files say something changed,
    and calls `on_change` with every exercise's standing after each re-check (from its own thread).

    `open_context` gives a fresh LabContext (the tracker's thread has its own engine connection)."""

    def __init__(
        self,
        lesson: str,
        open_context: Callable[[], LabContext],
        store: ProgressStore | None,
        on_change: Changed,
        debounce: Debounce | None = None,
    ) -> None:
        self.exercises = catalog.lesson(lesson)
        self._open_context, self._store, self._on_change = open_context, store, on_change
        self._debounce = debounce or Debounce()
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._stream = None
        best = store.best() if store is not None else {}
        self.state: dict[str, Tracked] = {
            e.id: Tracked(e, None, bool(best.get(e.id, (False, 0))[0])) for e in self.exercises
        }
        self.rechecks = self.events = 0  # checks run, engine events seen (the benchmark reads them)
        self._threads: list[threading.Thread] = []

    # -- the threads ------------------------------------------------------------------------
    def start(self) -> "Tracker":
        for target in (self._checker, self._engine_events, self._file_events):
            thread = threading.Thread(target=target, name=f"labkit-tracker-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing a stream already gone
                pass
        with self._lock:
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def wake(self, wakes: set[str]) -> None:
        with self._lock:
            self._debounce.add(wakes, time.monotonic())
            self._lock.notify_all()

    def _checker(self) -> None:
        ctx = None
        try:
            ctx = self._open_context()
            self._recheck(ctx, {e.id for e in self.exercises if e.wakes})
            while not self._stop.is_set():
                with self._lock:
                    wait = self._debounce.wait(time.monotonic())
                    self._lock.wait(timeout=1.0 if wait is None else wait)
                    due = self._debounce.take(time.monotonic())
                if due and not self._stop.is_set():
                    self._recheck(ctx, {e.id for e in woken(self.exercises, due)})
        finally:
            if ctx is not None:
                ctx.close()

    def _recheck(self, ctx: LabContext, ids: set[str]) -> None:
        from .exercises import check  # the one way a check is run

        if not ids:
            return
        for exercise in self.exercises:
            if exercise.id not in ids:
                continue
            before = self.state[exercise.id]
            was_passing = before.result is not None and before.result.passed
            result = check(
                ctx, exercise.id, store=self._store, source="tracker", record="none" if was_passing else "passes"
            ).result
            self.rechecks += 1
            self.state[exercise.id] = Tracked(exercise, result, before.passed_before or result.passed)
        self._on_change(list(self.state.values()))

    def _engine_events(self) -> None:
        """The engine's event stream, connected again (and everything re-checked once) when it drops."""
        ctx = self._open_context()
        pause, first = 0.5, True
        try:
            while not self._stop.is_set():
                try:
                    self._stream = ctx.engine.watch()
                    if not first:
                        self.wake({"image", "container", "registry"})
                    first, pause = False, 0.5
                    for event in self._stream:
                        if self._stop.is_set():
                            return
                        self.events += 1
                        self.wake(wakes_of(event))
                except LabkitError:
                    pass
                finally:
                    self._stream = None
                self._stop.wait(pause)
                pause = min(pause * 2, 10.0)
        finally:
            ctx.close()

    def _file_events(self) -> None:
        """The learner's Docker config (`docker login`), workspace and the course registry's events
        (labkit.registries.events, where labkit runs the registry): what changes there wakes the
        exercises that read them."""
        ctx = self._open_context()
        try:
            places = {
                Path(ctx.docker_config): "login",
                Path(ctx.workspace): "workspace",
                programs.events_file(ctx.paths).parent: "registry",  # the course registry's own events
            }
        finally:
            ctx.close()
        watch = FileWatch([p for p in places if p.is_dir()])
        try:
            while not self._stop.is_set():
                changed = watch.changed(timeout=1.0)
                wakes = {places[p] for p in changed if p in places}
                if wakes:
                    self.wake(wakes)
        finally:
            watch.close()


class FileWatch:
    """Which of some folders had a file written, made, moved in or removed: inotify on Linux (a
    blocking read, no CPU while nothing changes), else a look at their files' times each second."""

    _EVENTS = (
        0x00000008 | 0x00000080 | 0x00000100 | 0x00000200 | 0x00000040
    )  # CLOSE_WRITE MOVED_TO CREATE DELETE MOVED_FROM

    def __init__(self, folders: list[Path]) -> None:
        self._folders = folders
        self._fd = -1
        self._by_wd: dict[int, Path] = {}
        self._seen = {folder: self._times(folder) for folder in folders}
        libc_name = ctypes.util.find_library("c")
        if not libc_name:
            return
        libc = ctypes.CDLL(libc_name, use_errno=True)
        if not hasattr(libc, "inotify_init1"):
            return
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return
        self._fd = fd
        for folder in folders:
            wd = libc.inotify_add_watch(fd, os.fsencode(folder), self._EVENTS)
            if wd >= 0:
                self._by_wd[wd] = folder

    @staticmethod
    def _times(folder: Path) -> dict[str, float]:
        try:
            return {entry.name: entry.stat().st_mtime for entry in os.scandir(folder)}
        except OSError:
            return {}

    def changed(self, timeout: float) -> set[Path]:
        if self._fd < 0:
            time.sleep(timeout)
            changed = set()
            for folder in self._folders:
                now = self._times(folder)
                if now != self._seen[folder]:
                    changed.add(folder)
                    self._seen[folder] = now
            return changed
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return set()
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return set()
        changed, offset = set(), 0
        while offset + 16 <= len(data):
            wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            offset += 16 + length
            if wd in self._by_wd:
                changed.add(self._by_wd[wd])
        return changed

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
