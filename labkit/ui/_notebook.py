"""The notebook API: `from labkit import lab`.

    lab.check("layers.cache")                      # check an exercise; shows pass/fail, feedback, a hint button
    lab.check("inspect.read", answer={...})        # exercises answered in words
    lab.hint("layers.cache")                       # the next hint
    lab.progress()                                 # progress by lesson
    lab.track("layers")                            # the lesson's exercises, ticked off as the work is done
    lab.registry, lab.user, lab.password_file      # for commands: !docker tag myapp {lab.registry}/{lab.user}/myapp:v1

`lab` reads the state `labkit up` wrote each time it is used, so a lab started after
the kernel still works. When the lab is not up, it says so in one line, with the
command to run; a LabkitError in a cell shows as that line, not as a traceback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..course import CheckResult, LabContext, ProgressStore, catalog, exercises, live
from ..errors import LabkitError, UnknownExercise
from ..home import LabPaths
from ..labs import jupyter, lifecycle
from . import _shell, render


@dataclass(frozen=True)
class ShownResult(CheckResult):
    """A CheckResult as a notebook shows it: with its hint button (JupyterLab) or as text (elsewhere)."""

    next_hint: Callable[[], tuple[int, int, str | None]] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return render.result_text(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return render.result_bundle(self, self.next_hint or (lambda: (0, 0, None)))


@dataclass(frozen=True)
class Shown:
    """Something to show in a cell (a hint, progress, a lab problem): text and HTML."""

    text: str
    html: str

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.text, "text/html": self.html}


class Tracking:
    """A lesson's tracker as a cell shows it: a widget its tracker redraws (JupyterLab), else its
    text and HTML at the moment it is shown."""

    def __init__(self, lesson: str, rows: list) -> None:
        self.lesson, self.rows = lesson, rows
        self._widget = None

    def update(self, rows: list) -> None:
        self.rows = rows
        if self._widget is not None:
            self._widget.value = render.tracker_html(self.lesson, rows)

    def __repr__(self) -> str:
        return render.tracker_text(self.lesson, self.rows)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": repr(self), "text/html": render.tracker_html(self.lesson, self.rows)}
        if render._in_kernel():
            import ipywidgets

            if self._widget is None:
                self._widget = ipywidgets.HTML(bundle["text/html"])
            bundle[render.WIDGET_MIME] = render.widget_view(self._widget)
        return bundle


class Lab:
    def __init__(self, workspace: Path | None = None) -> None:
        self._workspace = workspace
        self._ctx: LabContext | None = None
        self._store: ProgressStore | None = None
        self._tracker: live.Tracker | None = None

    def _context(self) -> LabContext:
        _show_errors_briefly()
        fresh = LabContext.from_env(self._workspace)
        if self._ctx is None or self._ctx.state != fresh.state or self._ctx.workspace != fresh.workspace:
            if self._ctx is not None:
                self._ctx.close()
            self._ctx = fresh
            self._store = ProgressStore.for_paths(fresh.paths)
        return self._ctx

    def _progress_store(self) -> ProgressStore:
        return self._opened()[1]

    def _opened(self) -> tuple[LabContext, ProgressStore]:
        """The lab's context and its progress store, (re)opened together: the state file read once."""
        ctx = self._context()
        return ctx, self._store or ProgressStore.for_paths(ctx.paths)

    @property
    def registry(self) -> str:
        return self._context().registry_address

    @property
    def user(self) -> str:
        return self._context().user

    @property
    def password_file(self) -> str:
        return str(self._context().paths.password_file)

    @property
    def workspace(self) -> str:
        return str(self._context().workspace)

    def ready(self) -> Shown:
        """Is the lab up? Shows each part, and points this kernel's `!docker` and `%%bash` cells
        at the lab (DOCKER_HOST, LABKIT_REGISTRY, LABKIT_USER, LABKIT_PASSWORD_FILE); `!` lines
        run through pipes from now on, so docker prints as in a script (see ui/_shell.py)."""
        _show_errors_briefly()
        ipython = _get_ipython()
        if ipython is not None:
            _shell.run_through_pipes(ipython)
        try:
            paths = LabPaths.from_env()
            status = lifecycle.status(paths)
            if status.ok:
                os.environ.update(lifecycle.env(paths), LABKIT_PASSWORD_FILE=str(paths.password_file))
        except LabkitError as e:
            return _problem(e)
        bundle = render.ready_bundle([(p.name, p.up, p.summary) for p in status.parts])
        return Shown(bundle["text/plain"], bundle["text/html"])

    def check(self, exercise: str, answer: Any = None) -> CheckResult | Shown:
        """The exercise checked now. An id that names no exercise (the learner's typo) is shown as
        "No such exercise", with the close matches: nothing was checked, so there is no result."""
        try:
            ctx, store = self._opened()
            checked = exercises.check(ctx, exercise, answer, store)
        except UnknownExercise as e:
            return _no_such_exercise(e)
        except LabkitError as e:
            return ShownResult("error", str(e), exercise=str(exercise))
        spec, result = checked.exercise, checked.result

        def next_hint() -> tuple[int, int, str | None]:
            number, text = exercises.next_hint(ctx, spec, store)
            return number, len(spec.hints), text

        return ShownResult(**{f: getattr(result, f) for f in result.__dataclass_fields__}, next_hint=next_hint)

    def hint(self, exercise: str) -> Shown:
        try:
            ctx, store = self._opened()
            spec = catalog.get(exercise)
            number, text = exercises.next_hint(ctx, spec, store)
        except UnknownExercise as e:
            return _no_such_exercise(e)
        except LabkitError as e:
            return _problem(e)
        args = (spec.id, number, len(spec.hints), text)
        return Shown(render.hint_text(*args), render.hint_html(*args))

    def progress(self) -> Shown:
        try:
            rows = self._progress_store().summary(catalog.EXERCISES, catalog.TITLES)
        except LabkitError as e:
            return _problem(e)
        bundle = render.progress_bundle(rows)
        return Shown(bundle["text/plain"], bundle["text/html"])

    def track(self, lesson: str) -> Tracking | Shown:
        """The lesson's exercises, each turning passed by itself within a moment of the work being
        done, in a cell or in a terminal (the engine's events wake its check: labkit.course.live).

        In the lab's JupyterLab (LABKIT_TRACK=server) the server keeps the tracker (labkit.ui.tracking)
        and this shows it; elsewhere the kernel runs one, one lesson at a time (tracking another stops
        the last). A graded kernel has the lab's JupyterLab's variables (labs.fresh), so it runs none."""
        workspace = self._workspace
        try:  # an unknown lesson, or a lab that is not up, is shown as the other lab problems are
            _ctx, store = self._opened()
            tracker = live.Tracker(
                lesson, lambda: LabContext.from_env(workspace), store, lambda rows: shown.update(rows)
            )
        except LabkitError as e:
            return _problem(e)
        rows = list(tracker.state.values())
        if os.environ.get(jupyter.TRACK_VARIABLE) == "server":  # the server keeps it
            bundle = render.tracker_live_bundle(lesson, rows)
            return Shown(bundle["text/plain"], bundle["text/html"])
        if self._tracker is not None:
            self._tracker.stop()
        shown = Tracking(lesson, rows)
        self._tracker = tracker.start()
        return shown

    def show_layers(self, *refs: str, container: str = "") -> Shown:
        """A picture of your images' layers, read from the engine now.

        lab.show_layers("nginx", container="web1")              # read-only layers, the container's on top
        lab.show_layers("layered-app:v1", "layered-app:v2")     # side by side, shared layers marked
        """
        from . import _pictures

        try:
            if not refs or not all(isinstance(ref, str) and ref for ref in refs) or not isinstance(container, str):
                raise _pictures.PictureError(
                    "Name the image(s) to draw, and the container (if any), as text.",
                    'for example lab.show_layers("nginx") or lab.show_layers("nginx", container="web1").',
                )
            if container and len(refs) != 1:
                raise _pictures.PictureError(
                    f"container= goes with exactly one image, not {len(refs)}.",
                    f'name the container\'s own image: lab.show_layers("{refs[0]}", container="{container}").',
                )
            ctx = self._context()
            with ctx.engine.consistent():
                stacks = [_pictures.stack(ctx, ref, container if i == 0 else "") for i, ref in enumerate(refs)]
        except LabkitError as e:
            return _problem(e)
        bundle = render.layers_bundle(stacks)
        return Shown(bundle["text/plain"], bundle["text/html"])

    def __repr__(self) -> str:
        try:
            ctx = self._context()
        except LabkitError as e:
            return f"<lab: {e.message} {e.next_step}>"
        return f"<lab: engine {ctx.state.engine.host}, registry {ctx.registry_address} (user {ctx.user})>"


def _no_such_exercise(error: UnknownExercise) -> Shown:
    bundle = render.unknown_exercise_bundle(error.exercise, error.matches)
    return Shown(bundle["text/plain"], bundle["text/html"])


def _problem(error: LabkitError) -> Shown:
    bundle = render.problem_bundle(str(error))
    return Shown(bundle["text/plain"], bundle["text/html"])


def _show_errors_briefly() -> None:
    """In IPython, show a LabkitError as its message and next step, without a traceback."""
    ipython = _get_ipython()
    if ipython is None or getattr(ipython, "_labkit_handler", False):
        return

    def handler(shell, kind, value, tb, tb_offset=None):
        print(f"labkit: {value}", file=sys.stderr)
        return None

    ipython.set_custom_exc((LabkitError,), handler)
    ipython._labkit_handler = True


def _get_ipython():
    module = sys.modules.get("IPython")
    return module.get_ipython() if module is not None else None


lab = Lab()
