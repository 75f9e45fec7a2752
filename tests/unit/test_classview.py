"""The instructor's class view: learners by exercises, what each saw, who is stuck, pass rates."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

from labkit.classroom._classview import FAILED, IDLE_SECONDS, NOT_TRIED, PASSED, class_view
from labkit.course import CheckResult, ProgressStore

EXERCISES = [
    SimpleNamespace(id="start.pull", title="Pull busybox"),
    SimpleNamespace(id="inspect.pull", title="Pull nginx"),
]


def _check(store: ProgressStore, exercise: str, passed: bool, feedback: str = "") -> None:
    result = (CheckResult.ok if passed else CheckResult.fail)(feedback or ("done" if passed else "not yet"))
    store.record_check(result.scored(exercise, exercise, 1.0))


def test_each_learner_shows_what_they_saw_and_the_class_its_pass_rate(tmp_path):
    ada, bob = ProgressStore(tmp_path / "ada.sqlite"), ProgressStore(tmp_path / "bob.sqlite")
    _check(ada, "start.pull", True, "busybox:latest is there.")
    _check(bob, "start.pull", False, "There is no image busybox:latest in your engine yet: run `docker pull busybox`.")
    bob.record_hint("start.pull", 1)
    bob.record_hint("start.pull", 1)  # the same hint twice is one hint used
    view = class_view({"bob": bob, "ada": ada}, EXERCISES, time.time())
    assert [row.name for row in view.learners] == ["ada", "bob"]
    ada_row, bob_row = view.learners
    assert ada_row.cells["start.pull"].status == PASSED and ada_row.cells["inspect.pull"].status == NOT_TRIED
    assert bob_row.cells["start.pull"].status == FAILED
    assert bob_row.cells["start.pull"].feedback.startswith("There is no image busybox:latest")
    assert bob_row.cells["start.pull"].hints == 1
    assert view.pass_rate == {"start.pull": 0.5, "inspect.pull": 0.0}
    assert not ada_row.stuck and not bob_row.stuck
    table = list(csv.DictReader(io.StringIO(view.to_csv())))
    assert len(table) == 4 and table[2] == {
        "learner": "bob",
        "exercise": "start.pull",
        "status": "failed",
        "attempts": "1",
        "hints": "1",
        "stuck": "",
        "last feedback": "There is no image busybox:latest in your engine yet: run `docker pull busybox`.",
    }
    assert view.to_dict()["learners"][1]["cells"]["start.pull"]["status"] == "failed"


def test_three_failures_in_a_row_is_stuck_and_a_pass_ends_it(tmp_path):
    store = ProgressStore(tmp_path / "p.sqlite")
    for _ in range(3):
        _check(store, "start.pull", False)
    row = class_view({"cy": store}, EXERCISES, time.time()).learners[0]
    assert row.cells["start.pull"].stuck and row.stuck == ["start.pull: failed 3 times in a row"]
    _check(store, "start.pull", True)
    row = class_view({"cy": store}, EXERCISES, time.time()).learners[0]
    assert not row.cells["start.pull"].stuck and row.stuck == [] and row.cells["start.pull"].attempts == 4


def test_no_exercise_passed_for_ten_minutes_is_stuck_until_all_are_done(tmp_path):
    store = ProgressStore(tmp_path / "p.sqlite")
    _check(store, "start.pull", True)
    later = time.time() + IDLE_SECONDS + 60
    assert class_view({"di": store}, EXERCISES, later).learners[0].stuck == ["no exercise passed for 11 minutes"]
    _check(store, "inspect.pull", True)
    assert class_view({"di": store}, EXERCISES, later + 3600).learners[0].stuck == []  # finished: not stuck
    assert (
        class_view({"new": ProgressStore(tmp_path / "n.sqlite")}, EXERCISES, later).learners[0].stuck == []
    )  # not begun


def test_a_reset_lesson_starts_over_in_the_view(tmp_path):
    store = ProgressStore(tmp_path / "p.sqlite")
    _check(store, "start.pull", True)
    store.record_reset("start")
    assert class_view({"ed": store}, EXERCISES, time.time()).learners[0].cells["start.pull"].status == NOT_TRIED


def test_a_store_from_before_feedback_was_kept_gains_the_column(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, lesson TEXT NOT NULL,"
            " exercise TEXT, status TEXT, passed INTEGER, points REAL, possible REAL, source TEXT, number INTEGER,"
            " time REAL NOT NULL)"
        )
        conn.execute(
            "INSERT INTO events (kind, lesson, exercise, status, passed, time) "
            "VALUES ('check', 'start', 'start.pull', 'failed', 0, 1)"
        )
    store = ProgressStore(path)
    _check(store, "start.pull", False, "still not")
    cell = class_view({"fay": store}, EXERCISES, time.time()).learners[0].cells["start.pull"]
    assert cell.attempts == 2 and cell.feedback == "still not"


def test_a_lab_that_did_not_start_shows_on_the_instructors_view(tmp_path):
    import gc
    import json

    from labkit.classroom._service import read_class
    from labkit.classroom._spawner import PROBLEM_FILE

    (tmp_path / "gus" / "progress").mkdir(parents=True)
    _check(ProgressStore(tmp_path / "gus" / "progress" / "progress.sqlite"), "start.pull", True)
    gc.collect()  # the learner's store closed (its connection is freed with it): no -wal or -shm left beside it
    (tmp_path / "hal").mkdir()
    (tmp_path / "hal" / PROBLEM_FILE).write_text(
        json.dumps({"time": 1, "problem": "The class server has no memory left"})
    )
    before = sorted(p.name for p in (tmp_path / "gus" / "progress").iterdir())
    rows = {row.name: row for row in read_class(tmp_path).learners}
    assert rows["gus"].problem == "" and rows["gus"].cells["start.pull"].status == PASSED
    assert rows["hal"].problem == "The class server has no memory left"
    assert before == ["progress.sqlite"]
    assert (
        sorted(p.name for p in (tmp_path / "gus" / "progress").iterdir()) == before
    )  # read from a copy: nothing added beside it


def test_a_machine_short_of_memory_refuses_another_lab_at_once():
    from labkit.classroom._spawner import no_room

    meminfo = "MemTotal:       24000000 kB\nMemFree:          100000 kB\nMemAvailable:     300000 kB\n"
    refusal = no_room(meminfo, 512 * 2**20)
    assert refusal.startswith("The class server has no memory left for another lab (292 MB free, a lab needs 512 MB)")
    assert no_room(meminfo.replace("300000", "9000000"), 512 * 2**20) == ""


def test_a_lab_that_could_not_be_made_is_said_to_the_learner_without_the_machines_details():
    from labkit.classroom._spawner import in_learners_words
    from labkit.errors import SandboxFailed

    failed = SandboxFailed(
        "starting its rootless Docker engine", "it exited with status 1\n/var/lib/labkit/sandboxes/x/lab/engine.log: …"
    )
    said = in_learners_words(failed)
    assert said == (
        "The class server could not make it (starting its rootless Docker engine): tell your instructor, "
        "whose class view says why."
    )
    assert (
        "labkit grade" not in said and "/var/lib" not in said
    )  # the grader's next step and the machine's paths stay out
    assert in_learners_words(OSError("No space left on device: '/var/lib/labkit/hub'")).startswith(
        "The class server could not make it:"
    )


def test_root_follows_no_link_a_learner_put_in_their_folder(tmp_path):
    """The class view and the collection run as root over folders the learners write: a learner's link
    to a file of the machine is neither read nor copied, and a broken store hides only that learner."""
    from labkit.classroom._service import collect, read_class
    from labkit.classroom._spawner import _real_folder

    secret = tmp_path / "secret"
    secret.write_text("root only")
    learners = tmp_path / "hub" / "learners"
    (learners / "ivy" / "progress").mkdir(parents=True)
    (learners / "ivy" / "progress" / "progress.sqlite").symlink_to(secret)
    (learners / "ivy" / "workspace").mkdir()
    (learners / "ivy" / "workspace" / "00-start-here.ipynb").symlink_to(secret)
    (learners / "joe" / "progress").mkdir(parents=True)
    (learners / "joe" / "progress" / "progress.sqlite").write_text("not a database")
    rows = {row.name: row for row in read_class(learners).learners}
    assert rows["ivy"].problem == "" and rows["ivy"].cells["start.pull"].status == NOT_TRIED  # the link was not read
    assert rows["joe"].problem.startswith("their progress cannot be read")
    folder, count = collect(tmp_path / "hub")
    assert count == 0 and not (folder / "ivy").exists()
    assert oct((tmp_path / "hub" / "collected").stat().st_mode & 0o777) == "0o700"

    link = learners / "ivy" / "elsewhere"
    link.symlink_to(tmp_path)
    _real_folder(link)  # where root is about to write: a folder of its own, not the link's target
    assert link.is_dir() and not link.is_symlink()


def test_the_grade_command_works_pasted_and_grades_every_collected_notebook(tmp_path):
    import shlex
    import sys

    from labkit.classroom._service import grade_command
    from labkit.grading.submissions import find

    folder = tmp_path / "collected" / "20261204-100000"
    for learner in ("ann", "ben"):
        (folder / learner).mkdir(parents=True)
        for lesson in ("00-start-here", "08-capstone"):
            (folder / learner / f"{lesson}.ipynb").write_text("{}")
    command, out = grade_command(folder, {"LABKIT_HOME": "/root/.local/share/labkit", "PATH": "/usr/bin"})
    argv = shlex.split(command)
    assert "labkit" in argv[argv.index("grade") - 1] and argv[argv.index("grade") - 1].startswith("/")  # no PATH needed
    assert "LABKIT_HOME=/root/.local/share/labkit" in argv  # the class lab, whoever runs it
    assert argv[argv.index("grade") + 1] == str(folder) and argv[argv.index("--out") + 1] == str(out)
    assert not out.is_relative_to(folder)  # the reports are not graded again next time
    assert sorted(e.name for e in find([Path(argv[argv.index("grade") + 1])])) == [
        "ann/00-start-here",
        "ann/08-capstone",
        "ben/00-start-here",
        "ben/08-capstone",
    ]
    assert Path(sys.executable).with_name("labkit").exists()


def test_the_instructor_unlocks_a_name_and_gives_a_new_pin(tmp_path):
    """The class view's buttons, over the names file the hub's sign-in writes."""
    from labkit.classroom._names import LOCK_AFTER, LOCKED, RIGHT, Names

    clock = SimpleNamespace(now=0.0)
    names = Names(tmp_path / "names.json", lambda: clock.now)
    names.sign_in("ada", "1815")
    for _ in range(LOCK_AFTER):
        clock.now += 3600  # a patient guesser
        names.sign_in("ada", "0000")
    assert names.taken()["ada"]["locked"] and names.sign_in("ada", "1815").verdict == LOCKED
    assert Names(tmp_path / "names.json").unlock("ada")  # the class view's own reader
    assert names.sign_in("ada", "1815").verdict == RIGHT
    pin = Names(tmp_path / "names.json").new_pin("ada")
    assert names.sign_in("ada", pin).verdict == RIGHT
