"""A submission's kernel, without a lab: the environment it gets, and what the grader records of
its cells (a real ipykernel runs notebooks made in memory; no engine or registry is needed)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit import grading
from labkit.grading import execute, labs
from labkit.grading.job import Submission
from labkit.grading.supply import LabSupply
from labkit.home import EngineState, LabPaths, RegistryState, State
from labkit.labs import FreshLab, jupyter, lifecycle


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
    State(
        engine=EngineState(host="unix:///run/labkit/docker.sock"),
        registry=RegistryState(port=5001),
        mirror=RegistryState(port=5000),
    ).save(mine)
    monkeypatch.setenv("LABKIT_HOME", str(mine.home))
    learner = jupyter.environment(
        lifecycle.env(mine), tmp_path / "workspace", base={**base, "DOCKER_CONFIG": "/home/ann/.docker"}
    )

    work = Path(tempfile.gettempdir()) / f"{_work_prefix(tmp_path, monkeypatch)}x1y2z3w4"
    monkeypatch.setattr(labs, "prepare", lambda home, *_, **__: home)  # the lab's home, as the grader names it
    supply = LabSupply(work, RegistryState(port=5000), mine.cache)
    home = supply.take(more=False)
    supply.close()
    state = State(
        engine=EngineState(host=f"unix://{home}/engine/docker.sock"), registry=RegistryState(port=5002, user="learner")
    )
    lab = FreshLab(LabPaths(home, mine.cache), home / "workspace", home / "docker-config", state)
    graded = lab.kernel_env(
        {**base, "LABKIT_HOME": "/teacher", "LABKIT_OFFLINE": "1", "DOCKER_HOST": "unix:///teacher.sock"}
    )

    assert sorted(graded) == sorted(learner)
    assert [f"{k}={v}" for k, v in graded.items() if "grade" in v.lower()] == []
    assert graded["LABKIT_HOME"] == str(home) and graded["DOCKER_HOST"] == state.engine.host


def test_a_failed_cell_is_recorded_from_the_kernels_reply_even_with_its_traceback_hidden(tmp_path, monkeypatch):
    """A notebook that silences IPython's tracebacks still has each failed cell recorded, from the
    kernel's execute reply; the graded copy says so under the cell."""

    monkeypatch.setattr(execute, "healthy", lambda client: None)  # no lab here for it to find
    home = tmp_path / "lab"
    (home / "workspace").mkdir(parents=True)
    lab = FreshLab(LabPaths(home, tmp_path / "cache"), home / "workspace", home / "docker-config", State())
    nb = new_notebook(
        cells=[
            new_code_cell("get_ipython().showtraceback = lambda *a, **k: None"),
            new_code_cell("raise ValueError('hidden')"),
            new_code_cell("print('after')"),
        ]
    )
    sub = Submission(path=tmp_path / "hidden.ipynb", name="hidden", notebook=nb)
    execute.execute(sub, lab, dict(os.environ), cell_timeout=60, notebook_timeout=120)
    assert sub.events == ["cell 1 raised ValueError: hidden"]
    assert "raised ValueError: hidden" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert nb.cells[2].outputs[0]["text"] == "after\n"


# --- the kernel's health, proved before a submission runs ----------------------------------------


def _health(python: str, env: dict[str, str]) -> str:
    import json
    import subprocess

    from labkit.grading.execute import HEALTH

    done = subprocess.run([python, "-c", HEALTH], env=env, capture_output=True, text=True, timeout=60, cwd="/")
    return json.loads(done.stdout.strip().splitlines()[-1])["problem"]


def test_the_health_check_finds_a_kernel_that_cannot_import_labkit():
    """As when the grader runs from one checkout with another's environment: before, every worked
    capstone then scored 8/10, its login cell failing, and looked plausible."""
    import os
    import sys

    base = os.path.join(sys.base_prefix, "bin", "python3")  # an interpreter without labkit
    assert "cannot import labkit (ModuleNotFoundError" in _health(base, {"PATH": "/usr/bin"})


def test_the_health_check_finds_a_kernel_without_its_lab(tmp_path):
    import socket
    import sys

    assert "lacks the lab's variables DOCKER_HOST, LABKIT_REGISTRY" in _health(
        sys.executable, {"LABKIT_HOME": str(tmp_path)}
    )
    lab = {
        "LABKIT_HOME": str(tmp_path),
        "LABKIT_REGISTRY": "127.0.0.1:9",
        "DOCKER_HOST": f"unix://{tmp_path}/none.sock",
    }
    assert "its Docker engine at unix://" in _health(sys.executable, lab) and "cannot be reached" in _health(
        sys.executable, lab
    )
    with socket.socket(socket.AF_UNIX) as fake:  # an engine that answers /_ping, and no registry
        fake.bind(str(tmp_path / "engine.sock"))
        fake.listen()
        import threading

        def answer():
            for _ in range(2):
                conn, _ = fake.accept()
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nOK")
                conn.close()

        threading.Thread(target=answer, daemon=True).start()
        said = _health(sys.executable, {**lab, "DOCKER_HOST": f"unix://{tmp_path}/engine.sock"})
    assert said.startswith("its registry at 127.0.0.1:9 cannot be reached"), said


def test_an_unhealthy_kernel_makes_the_submission_infrastructure_not_a_score():
    import pytest

    from labkit.errors import LabkitError
    from labkit.grading.execute import healthy

    class Client:
        def __init__(self, text):
            self.text, self.nb = text, new_notebook(cells=[])

        def execute_cell(self, cell, index, store_history=True):
            assert store_history is False  # the submission's execution counts are untouched
            cell.outputs = [{"output_type": "stream", "name": "stdout", "text": self.text}]

    healthy(Client('{"problem": ""}\n'))
    with pytest.raises(LabkitError) as caught:
        healthy(Client('{"problem": "the kernel cannot import labkit (ModuleNotFoundError: no labkit)"}\n'))
    assert "not fit to grade in: the kernel cannot import labkit" in caught.value.message
    assert "--only-failed" in caught.value.next_step
    with pytest.raises(LabkitError):
        healthy(Client(""))


def test_the_graders_own_cells_replace_no_cell_of_the_submission(tmp_path):
    """nbclient writes each executed cell back into the notebook at the index it is given: the health
    check (run as cell 0) replaced a submission's first cell, and an answer= probe its check cell."""
    from labkit.grading.execute import CappedClient, run_aside

    nb = new_notebook(cells=[new_code_cell("x = 41"), new_code_cell('lab_check = "inspect.read"')])
    client = CappedClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        client.run(nb.cells[0], 0)
        probe = run_aside(client, "__import__('json').dumps(x + 1)")
        empty = CappedClient(new_notebook(cells=[]), timeout=60, kernel_name="python3")
        empty.kc, empty.km = client.kc, client.km  # a notebook with no cell at all: the probe has room too
        assert run_aside(empty, "1 + 1").outputs[0]["data"]["text/plain"] == "2"
    assert [c.source for c in nb.cells] == ["x = 41", 'lab_check = "inspect.read"']
    assert probe.outputs[0]["data"]["text/plain"] == "'42'"
