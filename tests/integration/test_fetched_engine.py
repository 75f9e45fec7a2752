"""The managed lab's engine is today's Docker Engine (fetched from Debian's packaging into the cache),
with the containerd image store; where none can be had the lab says so and uses the installed one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import start_lab, stop_lab

from labkit.engines import fetched


def test_the_lab_runs_todays_engine_with_the_containerd_image_store(lab):
    details = lab.refresh()["engine"]["details"]
    assert fetched.major(details["version"]) >= fetched.MINIMUM, details
    assert details["store"] == "containerd"
    assert "containerd image store" in lab.status["engine"]["summary"]
    driver = lab.docker("info", "--format", "{{.Driver}}").stdout.strip()
    # overlayfs, or native where the lab's home is on overlayfs with no loop device (a container's own
    # root: scripts/fresh-machine.sh bare), which `labkit up` then said (prepare_data_root)
    fell_back = "no loop device could be had" in lab.start_output
    assert driver == ("native" if fell_back else "overlayfs"), lab.start_output


def _without_a_current_engine(tmp_path: Path) -> dict[str, str]:
    """A cache with the base images but no engine, and a Debian archive that does not answer."""
    cache = tmp_path / "cache"
    cache.mkdir()
    shared = Path(os.environ.get("LABKIT_CACHE") or Path(__file__).resolve().parents[2] / ".cache" / "labkit")
    for name in ("base-images.tar", "debian"):
        if (shared / name).exists():
            (cache / name).symlink_to(shared / name)
    return {"LABKIT_CACHE": str(cache), "LABKIT_DEBIAN_MIRROR": "http://127.0.0.1:9/debian"}


def test_without_a_current_engine_the_lab_says_so_and_uses_the_installed_one(lab, tmp_path):
    other = start_lab(
        tmp_path / "home", tmp_path / "docker-config", "--managed", env=_without_a_current_engine(tmp_path)
    )
    try:
        up = other.labkit("up", "--managed")  # already up: nothing said again
        assert "uses this machine's installed Docker engine instead" not in up.stderr
        details = other.status["engine"]["details"]
        assert fetched.major(details["version"]) < fetched.MINIMUM and details["store"] == "classic"
        said = other.start_output.replace("\n", " ")
        assert "could not be fetched from Debian's archive http://127.0.0.1:9/debian (sid)" in said
        assert "uses this machine's installed Docker engine instead" in said
    finally:
        stop_lab(other)


def test_the_containerd_store_on_an_engine_too_old_for_it_is_refused_with_a_next_step(lab, tmp_path):
    env = {**lab.env, "LABKIT_HOME": str(tmp_path / "home"), **_without_a_current_engine(tmp_path)}
    for name in ("DOCKER_HOST", "DOCKER_CONFIG"):
        env.pop(name)
    env["PATH"] = os.environ["PATH"]  # not the session lab's: its unpacked dockerd first would be a current one
    try:
        result = lab.labkit("up", "--managed", "--store", "containerd", check=False, env=env)
        assert result.returncode == 1
        said = result.stderr.replace("\n", " ")
        assert "The containerd image store needs Docker Engine 28 or newer" in said and "--store classic" in said
        status = json.loads(lab.labkit("status", "--json", check=False, env=env).stdout)
        assert status["engine"]["up"] is False
    finally:
        lab.labkit("down", check=False, env=env)
