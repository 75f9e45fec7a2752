"""The course notebooks, proven both ways against a real lab.

- Every source notebook (solutions in) runs top to bottom under `pytest --nbval-lax`, after a
  full `labkit reset`, and its check cells show what they showed when the notebook was built
  (every check PASSED), ids and ports sanitised by notebooks/sanitize.cfg. Run twice in a
  row, it still passes (re-running is safe).
- Every released notebook (`labkit release`: solutions emptied) runs top to bottom after a
  reset, and every check in it fails with feedback; every catalog id is checked in exactly
  one notebook.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, run
from nbclient import NotebookClient

from labkit.course import catalog
from labkit.course.release import release
from labkit.course.reset import reset

pytestmark = pytest.mark.course  # run on both engines by `make test`

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CHECK = re.compile(r'lab\.check\("([^"]+)"')


def test_there_is_one_notebook_per_lesson():
    assert [p.stem for p in NOTEBOOKS] == [notebook for _lesson, notebook, _title in catalog.LESSONS]


def test_every_exercise_is_checked_in_exactly_one_notebook():
    seen = Counter()
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                seen.update(CHECK.findall(cell.source))
    assert set(seen) == {e.id for e in catalog.EXERCISES}
    assert all(count == 1 for count in seen.values()), seen


def nbval(lab, workspace: Path, notebook: Path):
    return run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--sanitize-with",
            str(REPO / "notebooks" / "sanitize.cfg"),
            "--nbval-cell-timeout=900",
            str(workspace / notebook.name),
        ],
        env={**lab.env, "LABKIT_WORKSPACE": str(workspace), "LABKIT_TRACK": "server"},  # as `labkit lab` runs kernels
        check=False,
        timeout=1800,
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_source_notebook_passes_from_a_reset_and_again(lab, ctx, tmp_path, notebook):
    workspace = ctx.workspace
    shutil.copy(notebook, workspace / notebook.name)
    reset(ctx)
    for attempt in ("first run", "second run"):
        result = nbval(lab, workspace, notebook)
        assert result.returncode == 0, f"{notebook.name}, {attempt}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


def test_released_notebooks_fail_every_check_with_feedback(lab, ctx, tmp_path, monkeypatch):
    for name, value in lab.env.items():  # the kernels nbclient starts inherit this environment
        if name.startswith(("LABKIT_", "DOCKER_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("LABKIT_WORKSPACE", str(ctx.workspace))
    monkeypatch.setenv("LABKIT_TRACK", "server")  # as `labkit lab` runs kernels: its server keeps the trackers
    learner = tmp_path / "learner"
    released = release(REPO / "notebooks", learner)
    assert len(released) == len(NOTEBOOKS)
    for item in released:
        reset(ctx)
        nb = nbformat.read(item.path, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        # Teaching cells may fail when the exercise before them was not done (allow_errors);
        # the check cells themselves must not.
        NotebookClient(
            nb,
            timeout=900,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(ctx.workspace)}},
        ).execute()
        for cell in nb.cells:
            ids = CHECK.findall(cell.source) if cell.cell_type == "code" else []
            if not ids:
                continue
            text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            assert "NOT YET" in text, f"{item.name}: {ids[0]} did not fail on the released notebook:\n{text}"
            feedback = text.split("\n", 1)[1] if "\n" in text else ""
            assert len(feedback.strip()) > 20, f"{item.name}: {ids[0]} gave no feedback"
            assert not any(o.get("output_type") == "error" for o in cell.outputs), (
                f"{item.name}: the check cell of {ids[0]} raised"
            )
