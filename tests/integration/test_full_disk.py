"""A nearly full disk is the lab's trouble, not the learner's: a check that fails then says so, and
`labkit status` names the place, its free space and what to do. The full file system is real: a
small tmpfs filled up, holding the lab's home."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from labkit.course import ERROR, FAILED, LabContext
from labkit.course.exercises import run_check
from labkit.home import LabPaths
from labkit.labs import lifecycle, space


@pytest.fixture
def full_home(lab, tmp_path):
    """A copy of the session lab's home (its state and password) on a tmpfs with nothing left free."""
    home = tmp_path / "full-home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "labkit-test-full", str(home)], check=True)
    try:
        (home / "registry").mkdir()
        for name in ("state.json", "registry/password"):
            shutil.copy(lab.home / name, home / name)
        with open(home / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * (1 << 20))
                    filler.flush()
            except OSError:
                pass  # ENOSPC: full
        yield home
    finally:
        subprocess.run(["umount", str(home)], check=True)


def test_a_failed_check_on_a_full_disk_is_a_lab_problem(lab, ctx, full_home):
    paths = LabPaths(home=full_home, cache=ctx.paths.cache)
    assert space.free_bytes(full_home) < space.LOW
    full = LabContext(paths, ctx.state, ctx.workspace, ctx.docker_config)
    try:
        result = run_check(full, "layers.cache")
    finally:
        full.close()
    assert result.status == ERROR
    assert f"the lab home ({full_home}) has only" in result.feedback and "free" in result.feedback
    assert "`labkit reset`" in result.feedback and "`docker system df`" in result.feedback
    assert "layered-app" in result.feedback  # what the check itself saw is kept
    # with room on the disk the same undone exercise is the learner's to do
    assert run_check(ctx, "layers.cache").status == FAILED


def test_status_names_a_nearly_full_disk_and_the_remedy(lab, full_home):
    status = lifecycle.status(LabPaths(home=full_home, cache=full_home))
    assert not status.engine.up and not status.ok
    assert f"the lab home ({full_home}) has only" in status.engine.summary
    assert "`labkit reset`" in status.engine.summary
    assert status.engine.details["low_space"][0]["what"] == "the lab home"
