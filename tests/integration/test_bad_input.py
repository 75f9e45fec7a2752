"""Bad input gets a clear message with a next step and exit status 1, never a traceback."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from conftest import lab_environment, run

LABKIT = [sys.executable, "-m", "labkit"]


def _labkit(tmp_path: Path, *args: str, env: dict | None = None):
    base = lab_environment(tmp_path / "home", tmp_path / "docker-config")
    return run([*LABKIT, *args], env={**base, **(env or {})}, check=False, timeout=300)


def _clear_error(result) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert "Next:" in result.stderr
    return result.stderr


def test_up_with_an_unreachable_explicit_engine(tmp_path):
    result = _labkit(tmp_path, "up", "--engine", f"unix://{tmp_path}/nowhere.sock")
    message = _clear_error(result)
    assert f"not reachable at unix://{tmp_path}/nowhere.sock" in message
    _labkit(tmp_path, "down")


def test_env_and_status_before_the_lab_was_ever_up(tmp_path):
    assert "run `labkit up` first" in _clear_error(_labkit(tmp_path, "env"))
    status = _labkit(tmp_path, "status")
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert "not started: run `labkit up`" in status.stdout


def test_dockerd_that_exits_at_start_shows_its_log(tmp_path):
    """A real dockerd refusing to start: its pid file names a live process that is not dockerd."""
    engine_dir = tmp_path / "home" / "engine"
    engine_dir.mkdir(parents=True)
    (engine_dir / "dockerd.pid").write_text(str(os.getpid()))
    try:
        result = _labkit(tmp_path, "up", "--managed")
        message = _clear_error(result)
        assert "The lab's Docker engine (dockerd) did not start" in message
        assert str(engine_dir / "dockerd.log") in message
        # dockerd's own words, from the log's last lines (20.10: "pid file found"; 28: "… is still running")
        assert "pid file found" in message or "is still running" in message
        mounts = Path("/proc/self/mounts").read_text()
        assert str(engine_dir / "data") not in mounts  # nothing of the failed start is left mounted
    finally:
        _labkit(tmp_path, "down")  # its registries started before the engine failed


def test_registry_that_refuses_to_start_shows_its_log(tmp_path):
    """The real Distribution program, given a configuration it cannot read."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    wrapper = fake_bin / "docker-registry"
    wrapper.write_text(f"#!/bin/sh\nexec {shutil.which('docker-registry')} serve {tmp_path}/missing.yml\n")
    wrapper.chmod(0o755)
    env = {"PATH": f"{fake_bin}:{os.environ['PATH']}"}
    message = _clear_error(_labkit(tmp_path, "up", env=env))
    assert "did not start" in message and "missing.yml" in message
    assert str(tmp_path / "home" / "mirror" / "mirror.log") in message


def test_missing_registry_program_says_what_to_install(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin)}
    message = _clear_error(_labkit(tmp_path, "up", env=env))
    assert "`docker-registry` is not installed" in message
    assert "apt-get install docker-registry" in message


def test_debootstrap_failure_names_the_package_source(lab, tmp_path):
    """A lab with an empty build cache whose Debian mirror does not answer (on the session's engine)."""
    dead_mirror = "http://127.0.0.1:9/debian"  # port 9 (discard): nothing listens here
    before = lab.docker("images", "-q", "busybox:latest").stdout.strip()
    env = {"LABKIT_CACHE": str(tmp_path / "empty-cache"), "LABKIT_DEBIAN_MIRROR": dead_mirror}
    result = _labkit(tmp_path, "up", "--engine", lab.host, env=env)
    message = _clear_error(result)
    assert f"debootstrap could not install Debian from the package source {dead_mirror}" in message
    assert str(tmp_path / "empty-cache" / "debian" / "debootstrap.log") in message
    assert "LABKIT_DEBIAN_MIRROR" in message  # the next step says how to pick another source
    assert lab.docker("images", "-q", "busybox:latest").stdout.strip() == before  # names put back as they were
    _labkit(tmp_path, "down")
