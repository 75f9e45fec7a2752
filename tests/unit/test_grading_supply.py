"""The grader's supply of fresh labs, alone (its prepare and dismantle replaced by recorders):
a lab made one ahead, used labs taken down, nothing left over, a failed start kept for its submission."""

from __future__ import annotations

import threading

import pytest

from labkit._errors import LabkitError
from labkit._grading import steps
from labkit._grading.supply import LabSupply
from labkit._state import RegistryState


class Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.made, self.dismantled, self.fail_at = [], [], fail_at
        self.lock = threading.Lock()

    def prepare(self, home, mirror, cache, seeded=None):
        with self.lock:
            number = len(self.made)
            self.made.append(home.name)
        if number == self.fail_at:
            raise LabkitError("the engine did not start", "look at its log")
        return f"lab-{number}"

    def dismantle(self, lab):
        with self.lock:
            self.dismantled.append(lab)


@pytest.fixture
def recorder(monkeypatch):
    made = Recorder()
    monkeypatch.setattr(steps, "prepare", made.prepare)
    monkeypatch.setattr(steps, "dismantle", made.dismantle)
    return made


def supply(tmp_path) -> LabSupply:
    return LabSupply(tmp_path, RegistryState(port=5000), tmp_path / "cache")


def test_the_next_lab_is_made_ahead_and_every_lab_is_taken_down(recorder, tmp_path):
    labs = supply(tmp_path)
    first = labs.take(more=True)
    assert first == "lab-0"
    labs.give_back(first)
    second = labs.take(more=False)  # the one made ahead
    assert second == "lab-1"
    labs.give_back(second)
    labs.close()
    assert len(recorder.made) == 2 and len(set(recorder.made)) == 2  # each lab a home of its own
    assert sorted(recorder.dismantled) == ["lab-0", "lab-1"]


def test_a_lab_made_ahead_and_never_used_is_taken_down_at_close(recorder, tmp_path):
    labs = supply(tmp_path)
    labs.give_back(labs.take(more=True))
    labs.close()
    assert recorder.made == [recorder.made[0], recorder.made[1]]
    assert sorted(recorder.dismantled) == ["lab-0", "lab-1"]


def test_without_more_nothing_is_made_ahead(recorder, tmp_path):
    labs = supply(tmp_path)
    labs.give_back(labs.take(more=False))
    labs.close()
    assert len(recorder.made) == 1 and recorder.dismantled == ["lab-0"]


def test_a_lab_that_failed_to_start_raises_for_its_own_submission_only(monkeypatch, tmp_path):
    made = Recorder(fail_at=1)
    monkeypatch.setattr(steps, "prepare", made.prepare)
    monkeypatch.setattr(steps, "dismantle", made.dismantle)
    labs = supply(tmp_path)
    labs.give_back(labs.take(more=True))  # lab-1 fails in the background
    with pytest.raises(LabkitError, match="did not start"):
        labs.take(more=True)
    third = labs.take(more=False)  # the batch goes on with a new lab
    assert third == "lab-2"
    labs.give_back(third)
    labs.close()
    assert sorted(made.dismantled) == ["lab-0", "lab-2"]
