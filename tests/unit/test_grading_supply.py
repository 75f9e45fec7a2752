"""The grader's supply of fresh labs, alone (its prepare and dismantle replaced by recorders):
a lab made one ahead, used labs taken down, nothing left over, a failed start kept for its submission."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from labkit.errors import LabkitError
from labkit.grading import labs as grading_labs
from labkit.grading.supply import LabSupply
from labkit.home import RegistryState


class Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.made, self.dismantled, self.fail_at = [], [], fail_at
        self.lock = threading.Lock()

    def prepare(self, home, mirror, cache, seeded=None, sandboxing=None):
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
    monkeypatch.setattr(grading_labs, "prepare", made.prepare)
    monkeypatch.setattr(grading_labs, "dismantle", made.dismantle)
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
    monkeypatch.setattr(grading_labs, "prepare", made.prepare)
    monkeypatch.setattr(grading_labs, "dismantle", made.dismantle)
    labs = supply(tmp_path)
    labs.give_back(labs.take(more=True))  # lab-1 fails in the background
    with pytest.raises(LabkitError, match="did not start"):
        labs.take(more=True)
    third = labs.take(more=False)  # the batch goes on with a new lab
    assert third == "lab-2"
    labs.give_back(third)
    labs.close()
    assert sorted(made.dismantled) == ["lab-0", "lab-2"]


def test_the_first_lab_starts_before_it_is_taken(recorder, tmp_path):
    labs = supply(tmp_path)
    labs.start_first()
    labs.start_first()  # once only
    first = labs.take(more=False)
    assert first == "lab-0" and len(recorder.made) == 1
    labs.give_back(first)
    labs.close()
    assert recorder.dismantled == ["lab-0"]


def test_a_first_lab_waiting_for_the_seeded_registry_gives_up_when_none_comes(monkeypatch, tmp_path):
    """A `--jobs N` worker starts its first lab before the seeded registry exists. A worker given no
    submission at all closes its supply: the lab waiting must end (and take itself down), not hang."""
    waiting, gave_up = threading.Event(), []

    def prepare(home, mirror, cache, seeded=None, sandboxing=None):
        waiting.set()
        try:
            return seeded.result(timeout=30)
        except BaseException as e:  # the real prepare dismantles what it started, and raises
            gave_up.append(type(e).__name__)
            raise

    monkeypatch.setattr(grading_labs, "prepare", prepare)
    monkeypatch.setattr(
        grading_labs, "dismantle", lambda lab: pytest.fail("a lab that never started is not taken down again")
    )
    labs = LabSupply(tmp_path, RegistryState(port=5000), tmp_path / "cache", Future())
    labs.start_first()
    assert waiting.wait(10)
    labs.close()
    assert gave_up == ["CancelledError"]


def test_the_first_lab_gets_the_seeded_registry_once_it_is_made(monkeypatch, tmp_path):
    got = []
    monkeypatch.setattr(
        grading_labs,
        "prepare",
        lambda home, mirror, cache, seeded=None, sandboxing=None: got.append(seeded.result(timeout=30)) or "lab-0",
    )
    monkeypatch.setattr(grading_labs, "dismantle", lambda lab: None)
    seeded: Future = Future()
    labs = LabSupply(tmp_path, RegistryState(port=5000), tmp_path / "cache", seeded)
    labs.start_first()
    seeded.set_result(tmp_path / "seeded")
    assert labs.take(more=False) == "lab-0"
    labs.close()
    assert got == [tmp_path / "seeded"]


def test_after_labs_fail_to_start_in_a_row_no_more_are_tried(monkeypatch, tmp_path):
    attempts = []

    def never_starts(home, mirror, cache, seeded=None, sandboxing=None):
        attempts.append(home.name)
        raise LabkitError("the engine did not start", "look at its log")

    monkeypatch.setattr(grading_labs, "prepare", never_starts)
    labs = supply(tmp_path)
    said = []
    for _ in range(6):
        with pytest.raises(LabkitError) as failed:
            labs.take(more=True)
        said.append(str(failed.value))
    labs.close()
    assert len(attempts) == 3  # then every later submission is told at once
    assert all("the engine did not start" in s for s in said) and "no more were tried" in said[-1]
    assert "look at its log" in said[-1]


def test_a_lab_that_starts_again_resets_the_count_of_failures(recorder, tmp_path):
    recorder.fail_at = 1
    labs = supply(tmp_path)
    labs.give_back(labs.take(more=True))
    with pytest.raises(LabkitError):
        labs.take(more=True)
    assert labs.take(more=False) == "lab-2"
    labs.close()
