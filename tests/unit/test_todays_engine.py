"""Today's engine for a managed lab: which one is used, when a cached one is whole, and what a
failed fetch says. (Fetching and running it: tests/integration/test_fetched_engine.py.)"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from labkit.engines import fetched
from labkit.errors import EngineFetchFailed
from labkit.machine import Watcher

VERSION = "28.5.2+dfsg4"


def _unpacked(cache: Path, version: str = VERSION) -> Path:
    """A stand-in unpacked engine: every program there, dockerd a script that says its version."""
    root = fetched.folder(cache) / "root"
    for name in fetched.BINARIES:
        program = root / name
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text(f"#!/bin/sh\necho 'Docker version {version}, build 0000000'\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
    (fetched.folder(cache) / fetched.STAMP).write_text(json.dumps({"version": version}))
    return root


def test_versions_are_read_by_their_major_number():
    assert fetched.major("28.5.2+dfsg4") == 28 and fetched.major("20.10.24+dfsg1") == 20
    assert fetched.major("") == 0 and fetched.major("dev") == 0


def test_a_whole_cached_engine_is_used(tmp_path):
    root = _unpacked(tmp_path)
    engine = fetched.cached(tmp_path)
    assert engine == fetched.FetchedEngine(VERSION, root)
    assert engine.dockerd == str(root / "usr/sbin/dockerd")
    assert engine.path("/usr/bin:/bin").split(":")[:2] == [str(root / "usr/sbin"), str(root / "usr/bin")]


@pytest.mark.parametrize("damage", ["no stamp", "a program missing", "an old dockerd", "stamp of another version"])
def test_a_damaged_or_half_made_cached_engine_is_not_used(tmp_path, damage):
    root = _unpacked(tmp_path, "20.10.24" if damage == "an old dockerd" else VERSION)
    if damage == "no stamp":
        (fetched.folder(tmp_path) / fetched.STAMP).unlink()
    elif damage == "a program missing":
        (root / "usr/bin/containerd").unlink()
    elif damage == "stamp of another version":
        (fetched.folder(tmp_path) / fetched.STAMP).write_text(json.dumps({"version": "28.0.0"}))
    assert fetched.cached(tmp_path) is None


def test_without_a_current_engine_the_lab_falls_back_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(fetched, "installed", lambda: None)

    def unreachable(cache, watcher):
        raise EngineFetchFailed("http://127.0.0.1:9/debian (sid)", "`apt-get update` failed: could not connect")

    monkeypatch.setattr(fetched, "fetch", unreachable)
    engine, notes = fetched.choose(tmp_path, Watcher())
    assert engine is None
    assert len(notes) == 1 and "http://127.0.0.1:9/debian (sid)" in notes[0]
    assert "uses this machine's installed Docker engine instead" in notes[0] and "LABKIT_DEBIAN_MIRROR" in notes[0]


def test_an_installed_current_dockerd_comes_first(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dockerd = bin_dir / "dockerd"
    dockerd.write_text("#!/bin/sh\necho 'Docker version 29.0.1, build 1111111'\n")
    dockerd.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    _unpacked(tmp_path / "cache")
    engine, notes = fetched.choose(tmp_path / "cache", Watcher())
    assert engine == fetched.FetchedEngine("29.0.1") and notes == []
    assert engine.bin_dirs == [] and engine.path("/usr/bin") == "/usr/bin"


# --- the lab's docker CLI ------------------------------------------------------------------


def test_the_labs_cli_goes_first_on_path_once_and_names_its_buildx_plugin(tmp_path, monkeypatch):
    from labkit.engines import docker_cli
    from labkit.home import EngineState, LabPaths

    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    engine = EngineState(programs=str(tmp_path / "engine/root"))
    first = docker_cli.variables(paths, engine, "/usr/bin:/bin")
    again = docker_cli.variables(paths, engine, first["PATH"])  # lab.ready() run twice in a kernel
    assert (
        again["PATH"]
        == first["PATH"]
        == f"{tmp_path}/engine/root/usr/sbin:{tmp_path}/engine/root/usr/bin:/usr/bin:/bin"
    )
    assert first["DOCKER_CONFIG"] == str(paths.home / "docker-config")  # never ~/.docker
    assert docker_cli.variables(paths, EngineState(), "/usr/bin") == {}  # the installed engine: the machine's CLI

    config = paths.home / "docker-config" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"auths": {"127.0.0.1:5000": {"auth": "bGVhcm5lcjpzZWNyZXQ="}}}))
    docker_cli.offer_plugins(config.parent, engine)
    docker_cli.offer_plugins(config.parent, engine)
    written = json.loads(config.read_text())
    assert written["auths"] == {"127.0.0.1:5000": {"auth": "bGVhcm5lcjpzZWNyZXQ="}}  # a login is kept
    assert written["cliPluginsExtraDirs"] == [f"{tmp_path}/engine/root/usr/libexec/docker/cli-plugins"]


def test_the_builder_is_told_from_where_the_cli_finds_its_plugins(tmp_path, monkeypatch):
    from labkit.engines import docker_cli
    from labkit.home import EngineState, LabPaths

    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    monkeypatch.setattr(docker_cli, "SYSTEM_PLUGIN_DIRS", ())
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "config"))
    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    engine = EngineState(programs=str(tmp_path / "engine/root"))
    assert docker_cli.builder(paths, engine) == "legacy builder"
    plugin = tmp_path / "engine/root/usr/libexec/docker/cli-plugins/docker-buildx"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    docker_cli.offer_plugins(tmp_path / "config", engine)
    assert docker_cli.builder(paths, engine) == "BuildKit"
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    assert docker_cli.builder(paths, engine) == "legacy builder"


def test_an_older_installed_engine_gets_the_cached_buildx_and_keeps_its_legacy_build(tmp_path, monkeypatch):
    """LABKIT_DOCKERD's 20.10 (the classic store): `docker buildx` works (lesson 11's multi-platform push)
    with the cached engine's plugin, and `docker build` stays the legacy builder its own CLI used."""
    from labkit.engines import docker_cli
    from labkit.home import EngineState, LabPaths

    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    cache = tmp_path / "cache"
    root = _unpacked(cache)
    old = tmp_path / "dockerd-20"
    old.write_text("#!/bin/sh\necho 'Docker version 20.10.24+dfsg1, build 5d6db84'\n")
    old.chmod(0o755)
    monkeypatch.setenv("LABKIT_DOCKERD", str(old))
    chosen = fetched.at_hand(cache)
    assert chosen.program == str(old) and chosen.root is None
    assert chosen.cli_plugins == root / "usr/libexec/docker/cli-plugins"

    paths = LabPaths(home=tmp_path / "home", cache=cache)
    engine = EngineState(version="", plugins=str(chosen.cli_plugins))
    assert docker_cli.variables(paths, engine) == {
        "DOCKER_CONFIG": str(paths.home / "docker-config"),
        "DOCKER_BUILDKIT": "0",
    }
    docker_cli.offer_plugins(docker_cli.config_dir(paths, engine), engine)
    written = json.loads((paths.home / "docker-config" / "config.json").read_text())
    assert written["cliPluginsExtraDirs"] == [str(root / "usr/libexec/docker/cli-plugins")]
    assert docker_cli.builder(paths, engine) == "legacy builder"

    current = tmp_path / "dockerd-28"
    current.write_text(f"#!/bin/sh\necho 'Docker version {VERSION}, build 0000000'\n")
    current.chmod(0o755)
    monkeypatch.setenv("LABKIT_DOCKERD", str(current))
    assert fetched.at_hand(cache).cli_plugins is None  # a current one's own CLI has its buildx
