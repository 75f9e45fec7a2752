"""`from labkit import lab` in a real Jupyter kernel (nbclient), against the session's lab."""

from __future__ import annotations

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET = "application/vnd.jupyter.widget-view+json"


def execute(lab, tmp_path, monkeypatch, *sources: str, allow_errors: bool = False) -> list:
    for name, value in lab.env.items():
        if name.startswith(("LABKIT_", "DOCKER_")):
            monkeypatch.setenv(name, value)
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return notebook.cells


def outputs(cell, key: str) -> str:
    return "".join(str(o.get("data", {}).get(key, "")) + o.get("text", "") for o in cell.outputs)


def test_check_hint_and_progress_in_a_kernel(lab, tmp_path, monkeypatch):
    lab.docker("rmi", "busybox", check=False)
    cells = execute(
        lab,
        tmp_path,
        monkeypatch,
        "from labkit import lab\nlab.check('start.pull')",
        "lab.hint('start.pull')",
        "!docker pull -q busybox",
        "lab.check('start.pull')",
        "lab.progress()",
        "print(lab.registry, lab.user)",
    )
    failed, hint, _pull, passed, progress, names = cells
    assert "NOT YET" in outputs(failed, "text/plain") and "docker pull busybox" in outputs(failed, "text/plain")
    assert any(WIDGET in o.get("data", {}) for o in failed.outputs)  # JupyterLab gets the widget with its hint button
    assert "NOT YET" in outputs(failed, "text/html")
    assert "Hint 1 of 2 for start.pull" in outputs(hint, "text/plain")
    assert "PASSED" in outputs(passed, "text/plain")
    assert "Start here" in outputs(progress, "text/plain")
    assert f"{lab.registry} learner" in outputs(names, "text/plain")


def test_a_labkit_error_in_a_cell_is_one_line_not_a_traceback(lab, tmp_path, monkeypatch):
    cells = execute(
        lab,
        tmp_path,
        monkeypatch,
        "import os\nos.environ['LABKIT_HOME'] = '/nonexistent/labkit-home'\nfrom labkit import lab\nlab.registry",
        "lab.check('nope.nothing')",
        allow_errors=True,
    )
    stderr = "".join(o.get("text", "") for o in cells[0].outputs if o.get("name") == "stderr")
    assert "labkit: The lab is not up." in stderr and "labkit up" in stderr
    shown = "".join(str(o) for o in cells[0].outputs)
    assert "Traceback" not in shown and "File " not in shown  # one line, no traceback
    assert "LAB PROBLEM" in outputs(cells[1], "text/plain") and "The lab is not up" in outputs(cells[1], "text/plain")


def test_an_unknown_exercise_in_a_kernel_is_no_such_exercise_not_a_lab_problem(lab, tmp_path, monkeypatch):
    (cell,) = execute(lab, tmp_path, monkeypatch, "from labkit import lab\nlab.check('layers.cahce')")
    assert outputs(cell, "text/plain") == "No such exercise `layers.cahce`: did you mean `layers.cache`?"
    assert "LAB PROBLEM" not in outputs(cell, "text/html") and "<code" in outputs(cell, "text/html")
    assert not any(WIDGET in o.get("data", {}) for o in cell.outputs)  # nothing was checked: no hint button


def test_the_lesson_tracker_ticks_off_work_done_in_a_terminal(lab, tmp_path, monkeypatch):
    """`lab.track('start')` shows the lesson's widget; `docker pull busybox` run outside the kernel (as
    in a terminal, here by the test's own thread) turns start.pull passed in it within 2 s of the pull's
    end, with no check cell run."""
    import subprocess
    import threading
    import time

    lab.docker("rmi", "busybox", check=False)
    ready, pulled = tmp_path / "ready", tmp_path / "pulled"

    def terminal() -> None:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["docker", "pull", "-q", "busybox"], env=lab.env, check=True, capture_output=True)
        pulled.write_text(str(time.time()))

    learner = threading.Thread(target=terminal, daemon=True)
    learner.start()
    cells = execute(
        lab,
        tmp_path,
        monkeypatch,
        "from labkit import lab\ntracked = lab.track('start')\ntracked",
        "import time\ntime.sleep(1)\nprint(repr(tracked))",
        f"import pathlib, time\npathlib.Path({str(ready)!r}).touch()\n"
        f"while not pathlib.Path({str(pulled)!r}).exists():\n    time.sleep(0.02)\n"
        f"done = float(pathlib.Path({str(pulled)!r}).read_text())\n"
        "while time.time() - done < 2 and '1 of 1 done' not in repr(tracked):\n    time.sleep(0.02)\n"
        "print(repr(tracked))\nprint(f'after {time.time() - done:.2f} s')",
    )
    learner.join(timeout=10)
    shown, before, after = cells
    assert any(WIDGET in o.get("data", {}) for o in shown.outputs)  # JupyterLab gets the widget the tracker redraws
    assert "start.pull" in outputs(before, "text/plain") and "0 of 1 done" in outputs(before, "text/plain")
    said = outputs(after, "text/plain")
    assert "PASSED" in said and "1 of 1 done" in said, said
