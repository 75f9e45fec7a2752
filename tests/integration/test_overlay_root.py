"""A lab whose home is on overlayfs, as in a container (a devcontainer, a CI runner, a minimal Debian
container with its own nested engine): labkit's engine with the containerd store could not mount its
snapshots there ("failed to mount /tmp/containerd-mount…: overlay … invalid argument" at the first
base image). Its data root is now an ext4 file system of its own, said once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import start_lab, stop_lab


@pytest.fixture
def overlay_home(tmp_path):
    """A folder on overlayfs: tmp_path itself where it is on overlayfs already (the tests run in a
    container whose root is overlayfs, where an overlay upon it cannot be mounted), else one mounted."""
    if _fstype(tmp_path) == "overlay":
        yield tmp_path
        return
    layers = {name: tmp_path / name for name in ("lower", "upper", "work", "merged")}
    for folder in layers.values():
        folder.mkdir()
    options = f"lowerdir={layers['lower']},upperdir={layers['upper']},workdir={layers['work']}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(layers["merged"])], check=True)
    try:
        yield layers["merged"]
    finally:
        subprocess.run(["umount", "--lazy", str(layers["merged"])], check=False)


def _fstype(path: Path) -> str:
    return subprocess.run(
        ["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)], capture_output=True, text=True
    ).stdout.strip()


def test_a_lab_on_overlayfs_gets_a_data_root_it_can_use(lab, overlay_home):
    assert _fstype(overlay_home) == "overlay"
    ours = start_lab(overlay_home / "home", overlay_home / "docker-config", "--managed")
    try:
        assert "is on overlayfs" in ours.start_output
        data = overlay_home / "home" / "engine" / "data"
        looped = "ext4 file system of its own" in ours.start_output
        if looped:
            assert _fstype(data) == "ext4"
        else:  # no loop device here (a container given none): the engine keeps its images without overlay
            assert "no loop device could be had" in ours.start_output
            assert ours.docker("info", "--format", "{{.Driver}}").stdout.strip() in ("native", "vfs")
        ran = ours.docker("run", "--rm", "busybox", "echo", "ran on overlayfs", check=False)
        assert "ran on overlayfs" in ran.stdout, ran.stderr
        built = ours.docker(
            "build",
            "-q",
            "-t",
            "on-overlay",
            "-",
            input="FROM debian:bookworm-slim\nRUN echo layered > /x\n",
            check=False,
        )
        assert built.returncode == 0, built.stderr
        ours.labkit("down")
        assert _fstype(data) == "overlay"  # unmounted with the engine (or never mounted)
        again = ours.labkit("up")
        assert "is on overlayfs" not in again.stdout + again.stderr  # said once
        assert ours.docker("image", "inspect", "on-overlay", check=False).returncode == 0  # kept across down and up
    finally:
        stop_lab(ours)
