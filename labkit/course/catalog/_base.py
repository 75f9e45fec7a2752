"""Exercises as data: what to do, how it is checked, hints, what it creates.

No solutions: they live with the course's authoring code (course/solutions.py), not in an
installed labkit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .._context import LabContext
from .._results import CheckResult

Check = Callable[[LabContext, Any], CheckResult]

#: What wakes an exercise's check: the engine's image events (pull, tag, untag, delete, load, import,
#: push, build's tag), its container events (create, start, die, destroy, commit, export, rename), a
#: push seen by the course registry, the learner's `docker login` (their Docker config), a file of
#: the workspace.
WAKES = ("image", "container", "registry", "login", "workspace")


@dataclass(frozen=True)
class Resources:
    """What an exercise creates, by name, so `labkit reset` removes exactly that."""

    images: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # relative to the workspace
    repositories: tuple[str, ...] = ()  # in the course registry, "{user}/…" filled in
    login: bool = False  # the learner's `docker login` to the course registry
    #: Repositories ("{registry}/{user}/…") whose images left with no tag but a digest name of theirs
    #: (`docker pull REPO@sha256:…`, or a pushed image once its tags are gone) reset removes by that name.
    by_digest: tuple[str, ...] = ()
    finder: Callable[[LabContext], list[dict]] | None = (
        None  # containers the exercise's checks judge; unnamed ones seen made in the lesson are reset's
    )


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    points: float
    task: str
    check: Check
    hints: tuple[str, ...]
    setup: tuple[
        str, ...
    ] = ()  # shell commands the notebook runs before the exercise; {registry}, {user}, {workspace} are filled in
    resources: Resources = field(default_factory=Resources)
    answer: str = ""  # what `answer=` takes, for exercises answered in words
    #: What can change the check's result, for the tracker that re-checks an exercise as the learner
    #: works (`course.live`): any of WAKES. Empty for an exercise answered in words (its check cell alone).
    wakes: tuple[str, ...] = ()

    @property
    def lesson(self) -> str:
        return self.id.split(".", 1)[0]
