"""The lab's mirror closed to pushes while `labkit hub` serves a class (the real registry refusing a
learner's push, and opening again at `labkit hub --stop`: tests/integration/test_hub.py)."""

from __future__ import annotations

import types

import pytest

from labkit.errors import LabkitError
from labkit.home import EngineState, LabPaths, RegistryState, State
from labkit.labs import lifecycle
from labkit.registries import bundles, programs


@pytest.fixture
def paths(tmp_path) -> LabPaths:
    return LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")


def saved(paths: LabPaths, mirror: RegistryState) -> State:
    state = State(engine=EngineState(host="unix:///nowhere/docker.sock", managed=True), mirror=mirror)
    state.save(paths)
    return state


def test_a_closed_mirror_takes_no_bundle_and_says_to_stop_the_hub(paths, tmp_path, monkeypatch):
    saved(paths, RegistryState(port=5999, pid=1, readonly=True))
    monkeypatch.setattr(bundles, "names", lambda path: ["busybox:latest"])
    monkeypatch.setattr(programs, "is_up", lambda paths, kind, part: True)
    with pytest.raises(LabkitError) as e:
        lifecycle.load_bundle(paths, tmp_path / "bundle.tar", None)
    assert "labkit hub" in e.value.message and "labkit hub --stop" in e.value.next_step


def test_closing_a_mirror_that_is_not_running_is_remembered_for_its_next_start(paths, monkeypatch):
    saved(paths, RegistryState(port=5999, pid=None))
    monkeypatch.setattr(programs, "reopen", lambda *a, **k: pytest.fail("nothing runs to start again"))
    lifecycle.mirror_takes_pushes(paths, False)
    assert State.load(paths).mirror.readonly
    lifecycle.mirror_takes_pushes(paths, True)
    assert not State.load(paths).mirror.readonly


def test_a_running_mirror_is_started_again_on_its_port(paths, monkeypatch):
    saved(paths, RegistryState(port=5999, pid=4242))
    monkeypatch.setattr(programs, "is_running", lambda paths, kind, part: True)
    started = []
    monkeypatch.setattr(
        programs,
        "reopen",
        lambda paths, kind, part, readonly: (
            started.append((kind, part.port, readonly)) or RegistryState(port=part.port, pid=4343, readonly=readonly)
        ),
    )
    lifecycle.mirror_takes_pushes(paths, False)
    lifecycle.mirror_takes_pushes(paths, False)  # already closed: not started again
    assert started == [(programs.MIRROR, 5999, True)]
    assert State.load(paths).mirror == RegistryState(port=5999, pid=4343, readonly=True)


def test_a_mirror_in_a_container_and_a_machine_without_a_lab_are_left_alone(paths, monkeypatch):
    monkeypatch.setattr(programs, "reopen", lambda *a, **k: pytest.fail("not labkit's program"))
    lifecycle.mirror_takes_pushes(paths, False)
    assert not paths.home.exists()  # `labkit hub --stop` where no lab was ever made makes none
    saved(paths, RegistryState(port=5999, container="labkit-x-mirror"))
    lifecycle.mirror_takes_pushes(paths, False)
    assert not State.load(paths).mirror.readonly


def test_a_closed_mirror_is_started_closed_again(paths, monkeypatch):
    """`labkit up` after the mirror died while a hub ran: it comes back refusing pushes."""
    monkeypatch.setattr(programs.shutil, "which", lambda name: "/usr/bin/docker-registry")
    monkeypatch.setattr(programs.processes, "spawn", lambda argv, log: types.SimpleNamespace(pid=4343))
    monkeypatch.setattr(programs.processes, "wait_ready", lambda *a: None)
    monkeypatch.setattr(programs.processes, "port_is_free", lambda port: True)
    part, _notes = programs.ensure(paths, programs.MIRROR, RegistryState(port=5999, readonly=True))
    assert part == RegistryState(port=5999, pid=4343, readonly=True)
    assert "readonly:\n      enabled: true" in programs.config_path(paths, programs.MIRROR).read_text()
