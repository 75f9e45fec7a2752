"""The tracker's pure parts: which engine events wake which exercises, the debounce, the file watch."""

from __future__ import annotations

import threading
import time

from labkit.course import catalog
from labkit.course.catalog import WAKES
from labkit.course.live import Debounce, FileWatch, wakes_of, woken


def event(kind: str, action: str, **attributes: str) -> dict:
    return {"Type": kind, "Action": action, "Actor": {"ID": "x", "Attributes": attributes}}


def test_image_and_container_events_wake_what_they_can_change():
    assert wakes_of(event("image", "pull", name="busybox:latest")) == {"image"}
    assert wakes_of(event("image", "tag", name="layered-app:v1")) == {"image"}
    assert wakes_of(event("image", "push", name="127.0.0.1:5000/learner/myapp:v1")) == {"image", "registry"}
    assert wakes_of(event("container", "start", name="web1")) == {"container"}
    assert wakes_of(event("container", "exec_die", name="web1")) == {"container"}  # `docker exec` wrote a file
    assert wakes_of(event("container", "commit", name="custom-box")) == {"container", "image"}


def test_reads_and_labkits_own_containers_wake_nothing():
    """A check reads a container's files (archive-path) and makes labelled probe containers: were
    those to wake anything, each re-check would wake the next."""
    assert wakes_of(event("container", "archive-path", name="web1")) == set()
    assert wakes_of(event("container", "exec_create: sh -c ls", name="web1")) == set()
    assert wakes_of(event("container", "create", name="probe", labkit="check")) == set()
    assert wakes_of(event("network", "connect")) == set()
    assert wakes_of({}) == set()


def test_every_exercise_declares_its_wakes_from_the_vocabulary():
    for exercise in catalog.EXERCISES:
        assert set(exercise.wakes) <= set(WAKES), exercise.id
        assert bool(exercise.wakes) != bool(exercise.answer), exercise.id  # answered in words: the cell only


def test_a_pull_wakes_the_pull_exercises_and_not_the_container_ones():
    lessons = catalog.lesson("container") + catalog.lesson("inspect")
    assert [e.id for e in woken(lessons, wakes_of(event("image", "pull")))] == [
        "inspect.pull",
        "inspect.tag",
        "inspect.rmi",
    ]
    assert [e.id for e in woken(lessons, {"container"})] == [
        "container.two-from-one",
        "container.rw-layer",
        "container.ephemeral",
    ]
    assert woken(catalog.lesson("push"), {"login"})[0].id == "push.login"


def test_a_burst_is_one_wake_once_quiet_and_never_held_past_the_longest():
    d = Debounce(quiet=0.1, longest=0.5)
    assert d.wait(0.0) is None and d.take(0.0) == set()
    d.add({"image"}, 1.0)
    d.add({"container"}, 1.05)
    assert abs(d.wait(1.1) - 0.05) < 1e-9
    assert d.take(1.1) == set()  # not quiet yet
    assert d.take(1.16) == {"image", "container"}
    assert d.wait(1.2) is None
    for at in (2.0, 2.08, 2.16, 2.24, 2.32, 2.40, 2.48):  # events every 80 ms never leave it quiet...
        d.add({"image"}, at)
        assert d.take(at) == set()
    assert d.take(2.5 + 1e-9) == {"image"}  # ...so it is due at the first one's time + longest
    d.add(set(), 3.0)
    assert d.wait(3.0) is None  # nothing woken: nothing waits


def test_a_file_written_in_a_watched_folder_is_seen_at_once(tmp_path):
    watch = FileWatch([tmp_path])
    try:
        assert watch.changed(timeout=0.05) == set()
        threading.Timer(0.1, (tmp_path / "config.json").write_text, args=("{}",)).start()
        started = time.monotonic()
        assert watch.changed(timeout=2.0) == {tmp_path}
        assert time.monotonic() - started < 1.0
    finally:
        watch.close()


def test_the_tracker_shows_the_state_now_and_a_pass_on_record_as_passed_earlier():
    from labkit.course import CheckResult
    from labkit.course.live import Tracked
    from labkit.ui import render

    pull, tag, read = catalog.get("inspect.pull"), catalog.get("inspect.tag"), catalog.get("inspect.read")
    rows = [
        Tracked(pull, CheckResult.ok("nginx is here")),
        Tracked(tag, CheckResult.fail("There is no image myrepo/nginx:v1 <yet>."), passed_before=True),
        Tracked(read, None),
    ]
    text = render.tracker_text("inspect", rows)
    assert "1 of 3 done" in text and "PASSED EARLIER" in text and "now: There is no image" in text
    assert "Answered in words" in text
    page = render.tracker_html("inspect", rows)
    assert 'data-exercise="inspect.pull" data-state="passed"' in page
    assert 'data-state="passed earlier"' in page and "&lt;yet&gt;" in page and "<yet>" not in page
