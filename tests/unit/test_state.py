"""The lab's state file: round trip, tolerance of unknown keys, the lab lock."""

from __future__ import annotations

import fcntl
import json

import pytest

from labkit.errors import StateError
from labkit.home import EngineState, LabPaths, RegistryState, State, locked


@pytest.fixture
def paths(tmp_path) -> LabPaths:
    return LabPaths(home=tmp_path / "home", cache=tmp_path / "c")


def _sample() -> State:
    return State(
        engine=EngineState(
            host="unix:///x/docker.sock", managed=True, pid=4242, bridge="lk-abc", subnet="10.123.7.0/24"
        ),
        registry=RegistryState(port=5001, pid=11, user="learner"),
        mirror=RegistryState(port=5002, pid=12),
    )


def test_save_then_load_round_trips(paths):
    _sample().save(paths)
    assert paths.state_file.exists()
    assert State.load(paths) == _sample()
    assert not paths.state_file.with_suffix(".tmp").exists()
    assert json.loads(paths.state_file.read_text())["registry"]["port"] == 5001


def test_missing_state_file_is_an_empty_state(paths):
    assert State.load(paths) == State()
    assert State.load(paths).engine.host == ""


def test_unknown_keys_are_ignored(paths):
    paths.home.mkdir(parents=True)
    paths.state_file.write_text(
        json.dumps(
            {
                "engine": {"host": "unix:///s", "colour": "blue"},
                "registry": {"port": 5003, "future": 1},
                "mirror": "not a dict",
                "extra": {"x": 1},
            }
        )
    )
    state = State.load(paths)
    assert state.engine == EngineState(host="unix:///s")
    assert state.registry == RegistryState(port=5003)
    assert state.mirror == RegistryState()


def test_unreadable_state_is_a_state_error(paths):
    paths.home.mkdir(parents=True)
    paths.state_file.write_text("{truncated")
    with pytest.raises(StateError) as info:
        State.load(paths)
    assert str(paths.state_file) in info.value.message
    assert "Next:" in str(info.value)


@pytest.mark.parametrize("text", ["[]", "null"])
def test_state_that_is_not_an_object_is_a_state_error(paths, text):
    paths.home.mkdir(parents=True)
    paths.state_file.write_text(text)
    with pytest.raises(StateError):
        State.load(paths)


def test_registry_address():
    assert RegistryState(port=5001).address == "127.0.0.1:5001"
    assert RegistryState().address == ""


def _try_lock(paths: LabPaths) -> bool:
    """Whether another open file description could take the lab lock right now."""
    with open(paths.lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_lock_can_be_taken_twice_in_sequence(paths):
    entered = []
    with locked(paths):
        entered.append(1)
        assert paths.lock_file.exists()
        assert not _try_lock(paths)
    assert _try_lock(paths)
    with locked(paths):
        entered.append(2)
        assert not _try_lock(paths)
    assert _try_lock(paths)
    assert entered == [1, 2]
