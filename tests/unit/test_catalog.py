"""The catalog as data: ids, points, hints, answers, lesson order, and lookups; the course's
solutions (authoring/solutions.py), one for each exercise."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from fakes import FakeEngine, fake_context

from authoring.solutions import SOLUTIONS
from labkit.course import FAILED, PASSED, catalog
from labkit.course.catalog import EXERCISES, LESSONS, TITLES
from labkit.course.exercises import fill
from labkit.errors import LabkitError, UnknownExercise, UnknownLesson

LESSON_NAMES = [name for name, _notebook, _title in LESSONS]
IDS = [e.id for e in EXERCISES]


def by_id(exercise_id: str):
    return next(e for e in EXERCISES if e.id == exercise_id)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_exercise_is_complete_data(exercise):
    lesson, _, slug = exercise.id.partition(".")
    assert lesson in LESSON_NAMES and re.fullmatch(r"[a-z][a-z0-9-]*", slug), exercise.id
    assert exercise.lesson == lesson
    assert exercise.points > 0
    assert exercise.title.strip() and exercise.task.strip()
    assert len(exercise.hints) >= 1 and all(h.strip() for h in exercise.hints)
    solution = SOLUTIONS[exercise.id].commands
    assert len(solution) >= 1 and all(s.strip() for s in solution)


def test_ids_are_unique():
    assert [i for i, n in Counter(IDS).items() if n > 1] == []


def test_every_solution_is_of_an_exercise():
    assert sorted(set(SOLUTIONS) - set(IDS)) == []


def test_exercises_follow_the_lessons_in_course_order():
    lessons_seen = list(dict.fromkeys(e.lesson for e in EXERCISES))
    assert lessons_seen == LESSON_NAMES  # every lesson has exercises, in LESSONS order
    positions = [LESSON_NAMES.index(e.lesson) for e in EXERCISES]
    assert positions == sorted(positions)  # no exercise comes back to an earlier lesson
    notebooks = [notebook for _name, notebook, _title in LESSONS]
    assert notebooks == sorted(notebooks) and [n[:2] for n in notebooks] == [f"{i:02d}" for i in range(len(notebooks))]
    assert list(TITLES) == LESSON_NAMES


def test_lesson_lists_its_exercises_in_order():
    for name in LESSON_NAMES:
        assert [e.id for e in catalog.lesson(name)] == [i for i in IDS if i.startswith(name + ".")]


def test_capstone_criteria_points_sum_to_its_points(tmp_path):
    capstone = by_id("capstone.site")
    result = capstone.check(fake_context(FakeEngine(), tmp_path), None)  # nothing exists: every criterion fails
    assert result.status == FAILED
    assert result.possible == capstone.points
    assert len(result.details) >= 2 and all(not met for _name, met, _points in result.details)
    assert result.points == 0


def test_on_an_empty_lab_every_exercise_fails_with_feedback(tmp_path):
    """No exercise passes, errors or raises when nothing was done yet; each says what is missing."""
    for exercise in EXERCISES:
        ctx = fake_context(FakeEngine(), tmp_path / exercise.id)
        result = exercise.check(ctx, None)
        assert result.status == FAILED, exercise.id
        assert result.feedback.strip(), exercise.id


def test_get_finds_an_exercise_and_suggests_close_matches():
    assert catalog.get("inspect.tag") is by_id("inspect.tag")
    with pytest.raises(UnknownExercise) as raised:
        catalog.get("inspect.tga")
    assert "inspect.tag" in raised.value.matches
    assert "Did you mean 'inspect.tag'" in str(raised.value)
    assert "Next:" in str(raised.value)


@pytest.mark.parametrize("not_an_id", [42, None, ("inspect", "tag"), "nope"])
def test_get_of_an_unknown_id_raises_unknown_exercise(not_an_id):
    with pytest.raises(UnknownExercise) as raised:
        catalog.get(not_an_id)
    assert isinstance(raised.value, LabkitError)
    assert f"There is no exercise {not_an_id!r}." in str(raised.value)
    assert "Next:" in str(raised.value)


def test_lesson_of_an_unknown_name_names_the_lessons():
    with pytest.raises(UnknownLesson) as raised:
        catalog.lesson("nope")
    text = str(raised.value)
    assert "There is no lesson 'nope'." in text
    assert f"use one of: {', '.join(LESSON_NAMES)}." in text


ANSWERED = [e for e in EXERCISES if e.answer or SOLUTIONS[e.id].answer is not None]


def test_some_exercises_are_answered_in_words():
    assert {"inspect.read", "commit.why-not"} <= {e.id for e in ANSWERED}


@pytest.mark.parametrize("exercise", ANSWERED, ids=[e.id for e in ANSWERED])
def test_an_answered_exercise_says_what_answer_takes_and_has_one(exercise, tmp_path):
    assert exercise.answer.strip()
    assert SOLUTIONS[exercise.id].answer is not None
    without = exercise.check(fake_context(FakeEngine(), tmp_path), None)
    assert without.status == FAILED
    assert exercise.answer in without.feedback  # a missing answer= is met with its shape


def test_exercises_that_read_answer_declare_it(tmp_path):
    """An exercise whose check asks for answer= (on an empty lab, given none) must say what it takes."""
    for exercise in EXERCISES:
        result = exercise.check(fake_context(FakeEngine(), tmp_path / exercise.id), None)
        if "answer" in result.feedback.lower():
            assert exercise.answer, exercise.id


@pytest.mark.parametrize(
    "exercise_id, state",
    [
        ("commit.why-not", {}),
        (
            "inspect.read",
            {
                "images": {
                    "nginx:latest": {
                        "Id": "sha256:" + "a" * 64,
                        "RootFS": {"Layers": ["l1"]},
                        "Config": {"Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}}},
                    }
                }
            },
        ),
    ],
)
def test_the_solution_answer_passes(exercise_id, state, tmp_path):
    exercise = by_id(exercise_id)
    result = exercise.check(fake_context(FakeEngine(**state), tmp_path), SOLUTIONS[exercise_id].answer)
    assert result.status == PASSED, result.feedback


PLACEHOLDER = re.compile(r"(?<!\{)\{[A-Za-z_.]+\}(?!\})")  # {name}, not Go's {{json .Config}}


def test_hints_and_solutions_have_only_the_labs_placeholders(tmp_path):
    ctx = fake_context(FakeEngine(), tmp_path)
    left = {
        (e.id, m)
        for e in EXERCISES
        for text in (*e.hints, *SOLUTIONS[e.id].commands, *e.setup)
        for m in PLACEHOLDER.findall(fill(text, ctx))
    }
    assert left == set()
    assert PLACEHOLDER.findall("{registry} {{json .Config.Cmd}}") == ["{registry}"]


def test_registry_repositories_are_the_course_pushes_for_that_user():
    from labkit.course.catalog import registry_repositories

    assert registry_repositories("ada") == ["ada/myapp", "ada/mysite", "ada/greeting", "ada/everywhere"]
