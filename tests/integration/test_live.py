"""Checks that run themselves, on a real lab: the learner's commands run outside any kernel (as
in a terminal) and the lesson's tracker sees each exercise turn passed, woken by the engine's
events and the learner's files alone; a near miss does not pass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_exercises import shell

from authoring.solutions import SOLUTIONS
from labkit.course import LabContext, ProgressStore, catalog
from labkit.course.live import Tracker
from labkit.course.reset import reset
from labkit.home import LabPaths, State

pytestmark = pytest.mark.course  # both engines: the classic store streams the same events

#: How long a tracker may take to show a pass (the benchmark measures it: bench/live.py).
WITHIN = 5.0


def tracking(lab, ctx, lesson: str) -> tuple[Tracker, list[float]]:
    paths = LabPaths(home=lab.home, cache=Path(lab.env["LABKIT_CACHE"]))

    def open_context() -> LabContext:
        return LabContext(paths, State.load(paths), ctx.workspace, ctx.docker_config)

    changes: list[float] = []
    store = ProgressStore.for_paths(ctx.paths)
    tracker = Tracker(lesson, open_context, store, lambda _state: changes.append(time.monotonic()))
    return tracker.start(), changes


def passed(tracker: Tracker, exercise: str) -> bool:
    result = tracker.state[exercise].result
    return result is not None and result.passed


def wait_for(condition, within: float = WITHIN) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("lesson", ["start", "image", "container", "inspect", "layers"])
def test_each_exercise_ticks_itself_off_when_its_commands_run_outside_the_kernel(lab, ctx, lesson):
    reset(ctx, [lesson])
    tracker, changes = tracking(lab, ctx, lesson)
    try:
        assert wait_for(lambda: changes), "the tracker's first look"
        for exercise in catalog.lesson(lesson):
            if not exercise.wakes:  # answered in words: its check cell alone
                continue
            shell(lab, ctx, exercise.setup)  # (inspect.rmi's makes the name to remove: undone from then on)
            assert wait_for(lambda: not passed(tracker, exercise.id)), f"{exercise.id} shown passed before it was done"
            shell(lab, ctx, SOLUTIONS[exercise.id].commands)
            took = wait_for(lambda: passed(tracker, exercise.id))
            assert took is not None, f"{exercise.id} not shown passed: {tracker.state[exercise.id].result}"
        best = ProgressStore.for_paths(ctx.paths).best()
        assert all(best[e.id][0] for e in catalog.lesson(lesson) if e.wakes)  # recorded, as the check cell would
    finally:
        tracker.stop()
        reset(ctx, [lesson])


def test_a_near_miss_does_not_tick_and_a_pass_undone_says_passed_earlier(lab, ctx):
    reset(ctx, ["start"])
    tracker, changes = tracking(lab, ctx, "start")
    try:
        assert wait_for(lambda: changes)
        shell(lab, ctx, ("docker rmi -f busybox:latest >/dev/null 2>&1 || true", "docker pull -q nginx"))
        seen = len(changes)
        assert wait_for(lambda: len(changes) > seen), "a pull wakes start.pull"
        assert not passed(tracker, "start.pull")  # nginx is not busybox
        shell(lab, ctx, ("docker pull -q busybox",))
        assert wait_for(lambda: passed(tracker, "start.pull"))
        shell(lab, ctx, ("docker rmi busybox:latest",))
        assert wait_for(lambda: not passed(tracker, "start.pull"))
        assert tracker.state["start.pull"].passed_earlier  # the state now, and the pass on record
    finally:
        tracker.stop()
        shell(lab, ctx, ("docker pull -q busybox",))
        reset(ctx, ["start"])


def test_a_push_no_engine_event_reports_wakes_the_registry_exercises(lab, ctx):
    """A manifest put straight into the course registry (as BuildKit's `--push` or any registry client
    does: no engine event) reaches the tracker through the registry's own events (Distribution's
    notifications, kept by labkit.registries.events in a file the tracker watches)."""
    import json

    import requests

    from labkit.registries import RegistryClient, programs

    paths = LabPaths(home=lab.home, cache=Path(lab.env["LABKIT_CACHE"]))
    assert programs.events_url(paths) in programs.config_path(paths, programs.REGISTRY).read_text()
    tracker, changes = tracking(lab, ctx, "push")
    registry = RegistryClient(lab.registry, auth=("learner", lab.password))
    try:
        assert wait_for(lambda: changes), "the tracker's first look"
        mirror = RegistryClient(lab.mirror)
        manifest = mirror.platform_manifest("library/busybox", "latest")
        for blob in (manifest["config"], *manifest["layers"]):
            registry.push_blob("learner/quiet", blob["digest"], mirror.blob("library/busybox", blob["digest"]))
        time.sleep(0.5)  # the layers' uploads are no news: nothing is re-checked for them
        seen = len(changes)
        done = requests.put(
            f"http://{lab.registry}/v2/learner/quiet/manifests/v1",
            data=json.dumps(manifest),
            headers={"Content-Type": manifest["mediaType"]},
            auth=("learner", lab.password),
            timeout=30,
        )
        assert done.status_code == 201, done.text
        took = wait_for(lambda: len(changes) > seen)
        assert took is not None, "the registry's push did not wake the push exercises"
        kept = programs.events_file(paths).read_text().splitlines()
        assert any('"repository": "learner/quiet"' in line and '"action": "push"' in line for line in kept)
        print(f"a push straight into the registry re-checked the push exercises {took:.2f} s after it")
    finally:
        tracker.stop()
        registry.delete_tag("learner/quiet", "v1")
