"""A submission's kernel, without a lab: the environment it gets, and what the grader records of
its cells (a real ipykernel runs notebooks made in memory; no engine or registry is needed)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit import grading
from labkit.ui import _jupyter
from labkit.infra import _lifecycle
from labkit.grading import steps
from labkit.grading.supply import LabSupply
from labkit.infra._paths import LabPaths
from labkit.infra._state import EngineState, RegistryState, State


class _Stop(Exception):
    pass


def _work_prefix(tmp_path: Path, monkeypatch) -> str:
    """The prefix of the folder `labkit grade` makes its labs in (stopped right there)."""
    made = []

    def mkdtemp(prefix=None, **_):
        made.append(prefix)
        raise _Stop

    with monkeypatch.context() as patched, pytest.raises(_Stop):
        patched.setattr(tempfile, "mkdtemp", mkdtemp)
        grading.grade([], grading.Options(out=tmp_path / "out"))
    return made[0]


def test_a_submissions_kernel_has_the_variables_of_a_learners_kernel(tmp_path, monkeypatch):
    """A notebook cannot tell from its environment that it is graded: its kernel has the variables
    of a learner's `labkit lab` kernel (one whose LABKIT_HOME and DOCKER_CONFIG are set where
    `labkit lab` runs: see README), and no value says "grade"."""
    base = {"PATH": "/usr/bin:/bin", "HOME": "/home/ann", "LANG": "C.UTF-8"}
    mine = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    State(engine=EngineState(host="unix:///run/labkit/docker.sock"), registry=RegistryState(port=5001),
          mirror=RegistryState(port=5000)).save(mine)
    monkeypatch.setenv("LABKIT_HOME", str(mine.home))
    learner = _jupyter.environment(_lifecycle.env(mine), tmp_path / "workspace", base={**base, "DOCKER_CONFIG": "/home/ann/.docker"})

    work = Path(tempfile.gettempdir()) / f"{_work_prefix(tmp_path, monkeypatch)}x1y2z3w4"
    monkeypatch.setattr(steps, "prepare", lambda home, *_, **__: home)  # the lab's home, as the grader names it
    supply = LabSupply(work, RegistryState(port=5000), mine.cache)
    home = supply.take(more=False)
    supply.close()
    state = State(engine=EngineState(host=f"unix://{home}/engine/docker.sock"), registry=RegistryState(port=5002, user="learner"))
    lab = steps.GradingLab(LabPaths(home, mine.cache), home / "workspace", home / "docker-config", state)
    graded = lab.kernel_env({**base, "LABKIT_HOME": "/teacher", "LABKIT_OFFLINE": "1", "DOCKER_HOST": "unix:///teacher.sock"})

    assert sorted(graded) == sorted(learner)
    assert [f"{k}={v}" for k, v in graded.items() if "grade" in v.lower()] == []
    assert graded["LABKIT_HOME"] == str(home) and graded["DOCKER_HOST"] == state.engine.host


def test_a_failed_cell_is_recorded_from_the_kernels_reply_even_with_its_traceback_hidden(tmp_path):
    """A notebook that silences IPython's tracebacks still has each failed cell recorded, from the
    kernel's execute reply; the graded copy says so under the cell."""
    home = tmp_path / "lab"
    (home / "workspace").mkdir(parents=True)
    lab = steps.GradingLab(LabPaths(home, tmp_path / "cache"), home / "workspace", home / "docker-config", State())
    nb = new_notebook(cells=[new_code_cell("get_ipython().showtraceback = lambda *a, **k: None"),
                             new_code_cell("raise ValueError('hidden')"), new_code_cell("print('after')")])
    sub = steps.Submission(path=tmp_path / "hidden.ipynb", name="hidden", notebook=nb)
    steps.execute(sub, lab, dict(os.environ), cell_timeout=60, notebook_timeout=120)
    assert sub.events == ["cell 1 raised ValueError: hidden"]
    assert "raised ValueError: hidden" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert nb.cells[2].outputs[0]["text"] == "after\n"
