"""The course's exercises, lesson by lesson, in the order the notebooks teach them."""

from __future__ import annotations

import difflib

from ...errors import UnknownExercise, UnknownLesson
from . import capstone, commit, container, digests, disk, image, inspection, layers, multistage, push, start, tryit
from ._base import WAKES, Exercise, Resources

#: (lesson, notebook, title), in course order.
LESSONS = (
    ("start", "00-start-here", "Start here"),
    ("image", "01-what-is-an-image", "What is an image"),
    ("container", "02-image-vs-container", "Image vs container"),
    ("inspect", "03-inspecting-images", "Inspecting images"),
    ("layers", "04-layers", "Layers"),
    ("commit", "05-commit", "Images from containers"),
    ("tryit", "06-try-it", "Try it"),
    ("push", "07-push", "Pushing to a registry"),
    ("capstone", "08-capstone", "Capstone"),
    ("digests", "09-digests", "Tags move, digests do not"),
    ("multistage", "10-multi-stage", "Multi-stage builds"),
    ("disk", "11-image-on-disk", "What an image is on disk"),
)
_MODULES = (start, image, container, inspection, layers, commit, tryit, push, capstone, digests, multistage, disk)
EXERCISES: tuple[Exercise, ...] = tuple(e for module in _MODULES for e in module.EXERCISES)
_BY_ID = {e.id: e for e in EXERCISES}
TITLES = {lesson: title for lesson, _notebook, title in LESSONS}


def get(exercise_id: object) -> Exercise:
    if isinstance(exercise_id, str) and exercise_id in _BY_ID:
        return _BY_ID[exercise_id]
    raise UnknownExercise(exercise_id, close_matches(exercise_id if isinstance(exercise_id, str) else str(exercise_id)))


def close_matches(text: str) -> list[str]:
    """The ids `text` is most likely a typo of: the close ones ("layers.cahce" → layers.cache alone),
    else the roughly similar ones ("cache", "layers" → up to three)."""
    ids = list(_BY_ID)
    return difflib.get_close_matches(text, ids, n=3, cutoff=0.8) or difflib.get_close_matches(
        text, ids, n=3, cutoff=0.5
    )


def registry_repositories(user: str) -> list[str]:
    """The course registry's repositories the exercises push to, for `user` ("learner/myapp", …)."""
    names = []
    for exercise in EXERCISES:
        pushed = [
            ref.split("/", 1)[1].rsplit(":", 1)[0] for ref in exercise.resources.images if ref.startswith("{registry}/")
        ]
        for name in (*exercise.resources.repositories, *pushed):
            name = name.replace("{user}", user)
            if name not in names:
                names.append(name)
    return names


def lesson(name: str) -> list[Exercise]:
    if not isinstance(name, str) or name not in TITLES:
        raise UnknownLesson(str(name), list(TITLES))
    return [e for e in EXERCISES if e.lesson == name]


__all__ = ["EXERCISES", "LESSONS", "TITLES", "WAKES", "Exercise", "Resources", "get", "lesson", "registry_repositories"]
