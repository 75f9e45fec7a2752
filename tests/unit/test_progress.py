"""The progress store: best results per lesson, hints, resets, WAL, two writers at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from labkit.course import CheckResult, LessonProgress, ProgressStore
from labkit.errors import LabkitError, ProgressError
from labkit.home import LabPaths


@dataclass(frozen=True)
class Ex:
    id: str
    points: float

    @property
    def lesson(self) -> str:
        return self.id.split(".", 1)[0]


EXERCISES = [Ex("layers.pull", 1), Ex("layers.cache", 2), Ex("tags.tag", 3), Ex("tags.push", 4)]


def passed(exercise: str, possible: float) -> CheckResult:
    return CheckResult.ok("done").scored(exercise, exercise, possible)


def failed(exercise: str, possible: float) -> CheckResult:
    return CheckResult.fail("not yet").scored(exercise, exercise, possible)


@pytest.fixture
def store(tmp_path) -> ProgressStore:
    return ProgressStore(tmp_path / "home" / "progress.sqlite")


def by_lesson(store: ProgressStore, **kw) -> dict[str, LessonProgress]:
    return {p.lesson: p for p in store.summary(EXERCISES, **kw)}


def test_for_paths_puts_the_store_in_the_lab_home(tmp_path):
    store = ProgressStore.for_paths(LabPaths(home=tmp_path / "h", cache=tmp_path / "c"))
    assert store.path == tmp_path / "h" / "progress.sqlite"
    assert store.path.exists()


def test_summary_of_nothing_recorded(store):
    assert store.summary(EXERCISES) == [
        LessonProgress("layers", "layers", done=0, total=2, points=0.0, possible=3.0),
        LessonProgress("tags", "tags", done=0, total=2, points=0.0, possible=7.0),
    ]


def test_best_result_counts_and_points_add_up_per_lesson(store):
    store.record_check(failed("layers.pull", 1))
    store.record_check(passed("layers.pull", 1))
    store.record_check(failed("layers.pull", 1))  # a later failure keeps the exercise done
    store.record_check(passed("tags.push", 4))
    store.record_check(failed("tags.tag", 3))
    summary = store.summary(EXERCISES, titles={"tags": "Tags and pushing"})
    assert [p.lesson for p in summary] == ["layers", "tags"]
    assert summary[0] == LessonProgress("layers", "layers", done=1, total=2, points=1.0, possible=3.0)
    assert summary[1] == LessonProgress("tags", "Tags and pushing", done=1, total=2, points=4.0, possible=7.0)


def test_partial_credit_keeps_the_best_points(store):
    half = CheckResult(status="failed", feedback="half", exercise="tags.tag", points=1.5, possible=3.0)
    store.record_check(half)
    store.record_check(failed("tags.tag", 3))
    tags = by_lesson(store)["tags"]
    assert (tags.done, tags.points) == (0, 1.5)


def test_lessons_follow_the_order_of_the_exercises(store):
    order = [Ex("b.one", 1), Ex("a.one", 1), Ex("b.two", 1)]
    assert [(p.lesson, p.total) for p in store.summary(order)] == [("b", 2), ("a", 1)]


def test_hints_count_distinct_numbers(store):
    assert store.hints_shown("layers.cache") == 0
    for number in (1, 2, 1, 2, 2):
        store.record_hint("layers.cache", number)
    store.record_hint("layers.pull", 1)
    assert store.hints_shown("layers.cache") == 2
    assert store.hints_shown("layers.pull") == 1


def test_reset_of_a_lesson_forgets_its_checks_and_hints_only(store):
    store.record_check(passed("layers.pull", 1))
    store.record_check(passed("tags.tag", 3))
    store.record_hint("layers.pull", 1)
    store.record_hint("tags.tag", 1)
    store.record_hint("tags.tag", 2)

    store.record_reset("layers")

    progress = by_lesson(store)
    assert (progress["layers"].done, progress["layers"].points) == (0, 0.0)
    assert (progress["tags"].done, progress["tags"].points) == (1, 3.0)
    assert store.hints_shown("layers.pull") == 0
    assert store.hints_shown("tags.tag") == 2

    store.record_check(failed("layers.pull", 1))
    store.record_hint("layers.pull", 2)
    assert by_lesson(store)["layers"].done == 0
    assert store.hints_shown("layers.pull") == 1
    store.record_check(passed("layers.pull", 1))
    assert by_lesson(store)["layers"].done == 1


def test_history_keeps_every_check_oldest_first_even_after_a_reset(store):
    store.record_check(failed("layers.pull", 1), source="cli")
    store.record_check(passed("layers.pull", 1))
    store.record_check(passed("tags.tag", 3), source="grader")
    store.record_reset("layers")
    rows = store.history()
    assert [(r["exercise"], r["status"], r["passed"], r["source"]) for r in rows] == [
        ("layers.pull", "failed", False, "cli"),
        ("layers.pull", "passed", True, "notebook"),
        ("tags.tag", "passed", True, "grader"),
    ]
    assert rows[1]["points"] == 1.0 and rows[1]["possible"] == 1.0
    assert rows[0]["time"] <= rows[1]["time"] <= rows[2]["time"]
    assert [r["exercise"] for r in store.history("tags.tag")] == ["tags.tag"]


def test_last_reset(store):
    assert store.last_reset("layers") == 0.0
    store.record_reset("layers")
    first = store.last_reset("layers")
    store.record_reset("layers")
    assert first > 0 and store.last_reset("layers") >= first
    assert store.last_reset("tags") == 0.0


def test_the_database_is_in_wal_mode(store):
    with closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _record_many(path: str, exercise: str, count: int, start) -> None:
    store = ProgressStore(Path(path))
    start.wait()
    for _ in range(count):
        store.record_check(passed(exercise, 1))


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "progress.sqlite"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_record_many, args=(str(path), ex, 200, start)) for ex in ("a.one", "b.one")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    history = ProgressStore(path).history()
    assert len(history) == 400
    assert sum(1 for row in history if row["exercise"] == "a.one") == 200


def test_a_corrupt_database_is_a_progress_error_with_a_next_step(tmp_path):
    path = tmp_path / "progress.sqlite"
    path.write_bytes(b"this is not sqlite at all\x00\xff" * 200)
    with pytest.raises(ProgressError) as caught:
        ProgressStore(path)
    assert isinstance(caught.value, LabkitError)
    assert "Next:" in str(caught.value) and str(path) in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_store_corrupted_after_opening_raises_when_next_opened(store):
    store.record_check(passed("layers.pull", 1))
    store._drop_connection()  # as a new kernel would find it
    store.path.write_bytes(b"\xde\xad\xbe\xef" * 4096)
    with pytest.raises(ProgressError, match="Next:"):
        store.record_check(passed("layers.pull", 1))


def test_a_busy_database_is_tried_again(store, monkeypatch):
    real_connect, calls = store._connect, []

    def busy_twice():
        calls.append(1)
        if len(calls) <= 2:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise error
        return real_connect()

    store._drop_connection()  # the next operation opens a connection: busy twice, then fine
    monkeypatch.setattr(store, "_connect", busy_twice)
    monkeypatch.setattr("labkit.course._progress.RETRY_PAUSE_S", 0.0)
    store.record_hint("layers.pull", 1)
    assert len(calls) == 3 and store.hints_shown("layers.pull") == 1


def test_best_counts_only_checks_since_the_lessons_last_reset(store):
    store.record_check(passed("layers.pull", 1))
    store.record_check(failed("tags.tag", 3))
    assert store.best() == {"layers.pull": (True, 1.0), "tags.tag": (False, 0.0)}
    store.record_reset("layers")
    assert store.best() == {"tags.tag": (False, 0.0)}
    store.record_check(failed("layers.pull", 1))
    assert store.best() == {"layers.pull": (False, 0.0), "tags.tag": (False, 0.0)}


def test_labkit_progress_table_follows_resets(tmp_path, monkeypatch, capsys):
    """`labkit progress`: an exercise passed before its lesson's reset is 'not yet' again, as its bar says."""
    from labkit import cli
    from labkit.course import catalog

    exercise = catalog.EXERCISES[0]
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    progress = ProgressStore.for_paths(LabPaths.from_env())
    progress.record_check(passed(exercise.id, exercise.points))

    def row() -> str:
        capsys.readouterr()
        assert cli.main(["progress"]) == 0
        return next(line for line in capsys.readouterr().out.splitlines() if exercise.id in line)

    assert "done" in row()
    progress.record_reset(exercise.lesson)
    after = row()
    assert "not yet" in after and f"0/{exercise.points:g}" in after


def test_containers_seen_made_in_a_lesson_are_its_until_the_next_reset(tmp_path):
    store = ProgressStore(tmp_path / "p.sqlite")
    store.record_made("tryit", ["a" * 64, "b" * 64])
    store.record_made("tryit", ["a" * 64])  # seen again: still one record
    assert store.made_since_reset("tryit") == {"a" * 64, "b" * 64}
    assert store.made_since_reset("commit") == set()
    store.record_reset("tryit")
    assert store.made_since_reset("tryit") == set()


def test_docker_made_up_names_are_told_from_the_learners_own():
    from labkit.course.exercises import GENERATED_NAME

    assert GENERATED_NAME.fullmatch("quirky_hopper") and GENERATED_NAME.fullmatch("eager_turing7")
    assert not any(GENERATED_NAME.fullmatch(name) for name in ("mytools", "tryit-box", "my-tools", "box_2_a"))
