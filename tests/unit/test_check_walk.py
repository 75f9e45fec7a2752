"""A check goes one way: the exercise looked up once, its standing read once, its result written once
(with what it saw made during the lesson, in the same transaction), however it is checked."""

from __future__ import annotations

from fakes import FakeEngine, fake_context, image

from labkit.course import ProgressStore, catalog, exercises


class CountingStore(ProgressStore):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.reads, self.writes = 0, 0

    def _read(self, sql, params=()):
        self.reads += 1
        return super()._read(sql, params)

    def _write_all(self, statements):
        self.writes += 1
        return super()._write_all(statements)


def _looked_up(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = catalog.get

    def get(exercise_id):
        seen.append(exercise_id)
        return real(exercise_id)

    monkeypatch.setattr(catalog, "get", get)
    return seen


def test_a_check_reads_its_standing_once_and_writes_once(tmp_path, monkeypatch):
    engine = FakeEngine(images={"busybox:latest": image("busybox", ["b1"])})
    ctx = fake_context(engine, tmp_path)
    store = CountingStore(ProgressStore.for_paths(ctx.paths).path)
    looked_up = _looked_up(monkeypatch)
    checked = exercises.check(ctx, "start.pull", None, store)
    assert checked.result.passed and checked.exercise.id == "start.pull"
    assert (looked_up, store.reads, store.writes) == (["start.pull"], 1, 1)


def test_a_check_that_claims_containers_still_writes_once(tmp_path, monkeypatch):
    """An exercise whose lesson makes unnamed containers (tryit) records those its check saw made, for
    `labkit reset`: in the same write as the check itself."""
    engine = FakeEngine(images={"debian:bookworm-slim": image("debian", ["d1"])})
    ctx = fake_context(engine, tmp_path)
    store = CountingStore(ProgressStore.for_paths(ctx.paths).path)
    seen_since = []
    monkeypatch.setattr(
        exercises, "made_in_lesson", lambda ctx, exercise, since: seen_since.append(since) or ["a" * 64]
    )
    checked = exercises.check(ctx, EXERCISE_WITH_FINDER, None, store)
    assert checked.exercise.resources.finder is not None
    assert (store.reads, store.writes) == (1, 1) and len(seen_since) == 1
    assert store.made_since_reset(checked.exercise.lesson) == {"a" * 64}


EXERCISE_WITH_FINDER = next(e.id for e in catalog.EXERCISES if e.resources.finder is not None)
