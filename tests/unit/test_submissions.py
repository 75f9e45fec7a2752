"""Finding submissions in what a teacher gives `labkit grade`: names by path, learners from LMS file
names, zips, and a hostile folder (links, FIFOs, folders named *.ipynb, a file too big) never followed
or opened."""

from __future__ import annotations

import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from labkit.errors import LabkitError
from labkit.grading import submissions
from labkit.grading.submissions import find, learner_of, origins

NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _copied(entry, tmp_path: Path) -> tuple[str, bytes]:
    target = tmp_path / f"copy-{abs(hash(entry.name))}.ipynb"
    problem = entry.copy_to(target)
    return problem, (target.read_bytes() if target.exists() else b"")


def test_two_learners_notebooks_of_one_name_are_two_submissions(tmp_path):
    """The class view's collection: collected/<time>/<learner>/<notebook>.ipynb."""
    folder = _tree(
        tmp_path / "collected",
        {"ann/08-capstone.ipynb": NOTEBOOK, "ben/08-capstone.ipynb": NOTEBOOK, "ben/00-start-here.ipynb": NOTEBOOK},
    )
    entries = find([folder])
    assert [(e.name, e.learner, e.key) for e in entries] == [
        ("ann/08-capstone", "ann", "ann/08-capstone"),
        ("ben/00-start-here", "ben", "ben/00-start-here"),
        ("ben/08-capstone", "ben", "ben/08-capstone"),
    ]
    assert all(not e.problem for e in entries)
    assert _copied(entries[0], tmp_path) == ("", NOTEBOOK)


def test_files_named_one_by_one_are_named_under_the_folder_they_share(tmp_path):
    """`labkit grade collected/*/08-capstone.ipynb`: the shell gives files, not the folder."""
    folder = _tree(tmp_path / "c", {"ann/08-capstone.ipynb": NOTEBOOK, "ben/08-capstone.ipynb": NOTEBOOK})
    entries = find(sorted(folder.glob("*/08-capstone.ipynb")))
    assert [(e.name, e.learner) for e in entries] == [("ann/08-capstone", "ann"), ("ben/08-capstone", "ben")]
    (one,) = find([folder / "ann" / "08-capstone.ipynb"])  # alone: named under its own folder
    assert (one.name, one.learner) == ("08-capstone", "08-capstone")


def test_two_folders_with_the_same_names_inside_are_told_apart(tmp_path):
    a = _tree(tmp_path / "monday", {"ann/08-capstone.ipynb": NOTEBOOK})
    b = _tree(tmp_path / "tuesday", {"ann/08-capstone.ipynb": NOTEBOOK})
    names = [e.name for e in find([a, b])]
    assert names == ["monday/ann/08-capstone", "tuesday/ann/08-capstone"]


def test_keys_are_safe_and_unique(tmp_path):
    folder = _tree(
        tmp_path / "s",
        {
            "Ann Smith/08 capstone.ipynb": NOTEBOOK,
            "Ann-Smith/08-capstone.ipynb": NOTEBOOK,
            "..hidden/x.ipynb": NOTEBOOK,
        },
    )
    keys = [e.key for e in find([folder])]
    assert len(set(k.lower() for k in keys)) == 3
    for key in keys:
        assert all(
            part and not part.startswith(".") and all(c.isalnum() or c in "_.-" for c in part)
            for part in key.split("/")
        ), key


@pytest.mark.parametrize(
    "parts, learner",
    [
        (("ann", "08-capstone.ipynb"), ("ann", "", "")),
        (("08-capstone.ipynb",), ("08-capstone", "", "")),
        # Canvas: sortable name, (late,) user id, submission id, the file's own name
        (("smithann_12345_67890_08-capstone.ipynb",), ("smithann", "12345", "canvas")),
        (("smithann_late_12345_67890_08-capstone-1.ipynb",), ("smithann", "12345", "canvas")),
        (("smithann_LATE_12345_67890_08-capstone.ipynb",), ("smithann", "12345", "canvas")),
        (("anon_Xy12Z_67890_08-capstone.ipynb",), ("anon_Xy12Z", "", "canvas")),
        (("müllerjürgen_12345_67890_08-capstone.ipynb",), ("müllerjürgen", "12345", "canvas")),
        # Moodle: a folder per participant (with a trailing _ before 4.1), or the same as a prefix of a flat file
        (("Ann Smith_1234_assignsubmission_file", "08-capstone.ipynb"), ("Ann Smith", "1234", "moodle")),
        (("Ann Smith_1234_assignsubmission_file_", "08-capstone.ipynb"), ("Ann Smith", "1234", "moodle")),
        (("Ann Smith_1234_assignsubmission_file_08-capstone.ipynb",), ("Ann Smith", "1234", "moodle")),
        # Blackboard
        (("Lab 8_asmith_attempt_2026-12-04-10-00-00_08-capstone.ipynb",), ("asmith", "", "blackboard")),
        # Brightspace
        (("123-456 - Ann Smith - Dec 4, 2026 1000 AM - 08-capstone.ipynb",), ("Ann Smith", "123-456", "brightspace")),
        (
            ("397063-2557369 - Mary-Ann Smith - Sep 24, 2024 926 PM", "08-capstone.ipynb"),
            ("Mary-Ann Smith", "397063-2557369", "brightspace"),
        ),
    ],
)
def test_the_learner_of_a_submission(parts, learner):
    assert learner_of(parts) == learner


def test_lms_names_do_not_change_the_submissions_name(tmp_path):
    folder = _tree(tmp_path / "canvas", {"smithann_12345_67890_08-capstone.ipynb": NOTEBOOK})
    (entry,) = find([folder])
    assert (entry.name, entry.learner, entry.learner_id) == ("smithann_12345_67890_08-capstone", "smithann", "12345")


# --- a hostile submissions folder ---------------------------------------------------------------


def test_links_fifos_devices_and_folders_named_notebooks_are_reported_and_never_opened(tmp_path):
    folder = _tree(tmp_path / "subs", {"ann/08-capstone.ipynb": NOTEBOOK})
    os.mkfifo(folder / "fifo.ipynb")
    os.symlink("/etc/passwd", folder / "passwd.ipynb")
    os.symlink("/etc", folder / "etc")  # a link to a folder: not walked into
    os.symlink("../../outside.ipynb", folder / "ann" / "out.ipynb")
    (tmp_path / "outside.ipynb").write_bytes(NOTEBOOK)
    (folder / "x.ipynb").mkdir()
    (folder / "x.ipynb" / "inside.ipynb").write_bytes(NOTEBOOK)  # a folder named as a notebook is not walked either
    os.mknod(folder / "null.ipynb", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    entries = {e.name: e for e in find([folder])}
    assert sorted(entries) == ["ann/08-capstone", "ann/out", "etc", "fifo", "null", "passwd", "x"]
    assert "is a link" in entries["passwd"].problem and "is a link" in entries["etc"].problem
    assert "is a link" in entries["ann/out"].problem
    assert "is a FIFO" in entries["fifo"].problem and "is a device" in entries["null"].problem
    assert "is a folder" in entries["x"].problem
    assert not entries["ann/08-capstone"].problem
    for entry in entries.values():
        if entry.problem:  # and even if asked to, it reads nothing
            assert _copied(entry, tmp_path)[1] == b""


def test_a_fifo_put_in_place_of_a_notebook_after_the_scan_is_not_waited_for(tmp_path):
    folder = _tree(tmp_path / "subs", {"a.ipynb": NOTEBOOK})
    (entry,) = find([folder])
    (folder / "a.ipynb").unlink()
    os.mkfifo(folder / "a.ipynb")
    done = []
    worker = threading.Thread(target=lambda: done.append(_copied(entry, tmp_path)), daemon=True)
    worker.start()
    worker.join(5)
    assert done and "is a FIFO" in done[0][0]


def test_a_link_put_in_place_of_a_folder_after_the_scan_is_not_followed(tmp_path):
    folder = _tree(tmp_path / "subs", {"ann/a.ipynb": NOTEBOOK})
    (entry,) = find([folder])
    _tree(tmp_path / "elsewhere", {"a.ipynb": b"SECRET"})
    (folder / "ann" / "a.ipynb").unlink()
    (folder / "ann").rmdir()
    os.symlink(tmp_path / "elsewhere", folder / "ann")
    problem, data = _copied(entry, tmp_path)
    assert "link" in problem and data == b""


def test_a_file_too_big_is_reported_without_being_read(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "MAX_BYTES", 1000)
    folder = _tree(tmp_path / "subs", {"big.ipynb": b" " * 1001, "ok.ipynb": NOTEBOOK})
    entries = {e.name: e for e in find([folder])}
    assert "is over" in entries["big"].problem and not entries["ok"].problem
    (folder / "ok.ipynb").write_bytes(b" " * 2000)  # grown after the scan: cut at the cap, reported
    assert "is over" in _copied(entries["ok"], tmp_path)[0]


def test_only_notebooks_are_taken_and_checkpoints_and_resource_forks_skipped(tmp_path):
    folder = _tree(
        tmp_path / "subs",
        {
            "a.ipynb": NOTEBOOK,
            "notes.txt": b"x",
            ".ipynb_checkpoints/a-checkpoint.ipynb": NOTEBOOK,
            "__MACOSX/._a.ipynb": b"\0",
            "._a.ipynb": b"\0",
            "B.IPYNB": NOTEBOOK,
        },
    )
    assert sorted(e.name for e in find([folder])) == ["B", "a"]


def test_origins_are_what_the_teacher_typed_never_where_a_link_inside_points(tmp_path):
    folder = _tree(tmp_path / "subs", {"ann/a.ipynb": NOTEBOOK})
    os.symlink("/etc", folder / "evil")
    os.symlink("/etc/passwd", folder / "passwd.ipynb")
    assert origins([folder]) == (folder.resolve(),)
    assert origins(sorted(folder.glob("*/*.ipynb")) + [folder / "passwd.ipynb"]) == (folder.resolve(),)


# --- zip files ----------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def test_a_zip_is_a_submissions_folder(tmp_path):
    archive = _zip(
        tmp_path / "class.zip",
        {
            "Ann Smith_1_assignsubmission_file_/08-capstone.ipynb": NOTEBOOK,
            "Ben Jones_2_assignsubmission_file_/08-capstone.ipynb": NOTEBOOK,
            "readme.txt": b"not a notebook",
            "__MACOSX/Ann Smith_1_assignsubmission_file_/._08-capstone.ipynb": b"\0",
        },
    )
    entries = find([archive])
    assert [(e.learner, e.learner_id) for e in entries] == [("Ann Smith", "1"), ("Ben Jones", "2")]
    assert entries[0].name == "Ann Smith_1_assignsubmission_file_/08-capstone"
    assert entries[0].source == f"{archive}:Ann Smith_1_assignsubmission_file_/08-capstone.ipynb"
    assert _copied(entries[0], tmp_path) == ("", NOTEBOOK)


def test_a_zip_never_unpacks_links_or_paths_that_climb_out(tmp_path):
    archive = _zip(
        tmp_path / "class.zip",
        {"../../evil.ipynb": NOTEBOOK, "/abs.ipynb": NOTEBOOK, "ok.ipynb": NOTEBOOK, "C:/win.ipynb": NOTEBOOK},
        links={"link.ipynb": "/etc/passwd"},
    )
    entries = {e.source.split(":", 1)[1]: e for e in find([archive])}
    assert "climbs out" in entries["../../evil.ipynb"].problem
    assert "climbs out" in entries["/abs.ipynb"].problem
    assert "climbs out" in entries["C:/win.ipynb"].problem
    assert "is a link" in entries["link.ipynb"].problem
    assert not entries["ok.ipynb"].problem
    assert not (tmp_path / "evil.ipynb").exists()


def test_a_zip_member_bigger_than_it_says_is_cut_at_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "MAX_BYTES", 1000)
    archive = _zip(tmp_path / "class.zip", {"big.ipynb": b" " * 100_000})
    (entry,) = find([archive])
    assert "is over" in entry.problem  # its header says so
    entry.problem = ""  # a lying header: reading stops at the cap all the same
    assert "is over" in _copied(entry, tmp_path)[0]


def test_a_file_that_is_not_a_zip_says_what_to_do(tmp_path):
    (tmp_path / "class.zip").write_bytes(b"not a zip")
    with pytest.raises(LabkitError) as caught:
        find([tmp_path / "class.zip"])
    assert "cannot be read as a zip" in caught.value.message and "unpack it" in caught.value.next_step


def test_the_reports_folder_inside_a_folder_given_is_not_graded(tmp_path):
    folder = _tree(tmp_path / "subs", {"ann/a.ipynb": NOTEBOOK, "grades/graded/ann/a.ipynb": NOTEBOOK})
    assert [e.name for e in find([folder], exclude=folder / "grades")] == ["ann/a"]
