"""Benchmark: running the course notebooks against the floor of the Docker work they do.

    .venv/bin/python bench/course.py

A lab of its own is started in a temporary home (base images from the build cache, so the
lab is warm). For each source notebook, each from a full `labkit reset` (one kernel warmed
up first): the time to run it top to bottom in a kernel (nbclient), and the time to run the
same commands as one plain shell script: its `!` lines, `%%bash` cells and `%%writefile`
cells, without Python, checks or pictures. That script is the floor: what the Docker work
costs. Each is run twice, alternating, and the faster run of each counts.
Target: the notebooks take at most 1.5x the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import datetime  # noqa: E402

import nbformat  # noqa: E402
from benchlab import bench_lab  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

TARGET = 1.5


def shell_script(nb) -> str:
    """The notebook's shell work as one bash script (lab values from the environment)."""
    lines = ["set -e"]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = cell.source.replace("{lab.registry}", "$LABKIT_REGISTRY").replace("{lab.user}", "$LABKIT_USER")
        first, _, body = source.partition("\n")
        if first.startswith("%%bash"):
            lines.append(body)
        elif first.startswith("%%writefile"):
            lines.append(f"cat > {first.split()[1]} <<'LABKIT_EOF'\n{body}\nLABKIT_EOF")
        else:
            lines += [line[1:] for line in source.splitlines() if line.startswith("!")]
    return "\n".join(lines) + "\n"


def cell_seconds(nb, slow: list | None = None) -> tuple[float, float]:
    """(seconds in labkit cells: checks, pictures, lab.ready; seconds in all other cells), from nbclient's timings.
    Each labkit cell's (seconds, first line) is appended to `slow` when given."""
    labkit = other = 0.0
    for cell in nb.cells:
        timing = cell.metadata.get("execution", {}) if cell.cell_type == "code" else {}
        start, end = timing.get("iopub.status.busy"), timing.get("iopub.status.idle")
        if start and end:
            took = (
                datetime.datetime.fromisoformat(end.rstrip("Z")) - datetime.datetime.fromisoformat(start.rstrip("Z"))
            ).total_seconds()
            if "lab." in cell.source and not cell.source.startswith(("%%", "!")):
                labkit += took
                if slow is not None:
                    slow.append((took, cell.source.splitlines()[-1][:60]))
            else:
                other += took
    return labkit, other


def main() -> int:
    rows, slow = [], []
    with bench_lab("labkit-bench-course-") as (work, env):
        os.environ.update(env)
        from labkit.course import LabContext
        from labkit.course.reset import reset
        from labkit.home import LabPaths
        from labkit.labs.lifecycle import env as lab_env

        paths = LabPaths.from_env()
        env.update(lab_env(paths), LABKIT_PASSWORD_FILE=str(paths.password_file))
        os.environ.update(env)
        # The first kernel of a process pays one-time costs (a learner's JupyterLab pays them
        # once per session, not per notebook): start one before timing.
        NotebookClient(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from labkit import lab")]), kernel_name="python3"
        ).execute()
        for path in sorted((REPO / "notebooks").glob("*.ipynb")):
            times = {"notebook": [], "shell": []}
            # Each side twice, alternating, best kept: the registry keeps pushed layers across a
            # reset, so whichever pushed first would pay for both.
            for kind in ("shell", "notebook", "shell", "notebook"):
                nb = nbformat.read(path, as_version=4)
                space = Path(tempfile.mkdtemp(dir=work))
                ctx = LabContext.from_env(space)
                reset(ctx)
                ctx.close()
                start = time.perf_counter()
                if kind == "notebook":
                    NotebookClient(
                        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(space)}}
                    ).execute()
                else:
                    subprocess.run(
                        ["bash", "-c", shell_script(nb)], cwd=space, env=env, check=True, capture_output=True
                    )
                took = time.perf_counter() - start
                if kind == "notebook" and (not times["notebook"] or took < min(times["notebook"])):
                    best = nb
                times[kind].append(took)
            times = [min(times["notebook"]), min(times["shell"])]
            labkit_s, other_s = cell_seconds(best, slow)
            kernel_s = times[0] - labkit_s - other_s
            rows.append((path.stem, *times, labkit_s, kernel_s))
            print(
                f"{path.stem:24} notebook {times[0]:6.1f} s   shell {times[1]:6.1f} s   {times[0] / times[1]:4.2f}x"
                f"   (labkit cells {labkit_s:4.1f} s, kernel and messaging {kernel_s:4.1f} s, "
                f"other cells {other_s:4.1f} s)",
                flush=True,
            )
    notebooks, floor = sum(r[1] for r in rows), sum(r[2] for r in rows)
    ratio = notebooks / floor
    labkit_s, kernel_s = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(
        f"{'all notebooks':24} notebook {notebooks:6.1f} s   shell {floor:6.1f} s   {ratio:4.2f}x  "
        f"(target <= {TARGET}x){'' if ratio <= TARGET else '  MISSED'}"
    )
    print(
        f"{'':24} of the notebook time: labkit cells {labkit_s:.1f} s, kernels and messaging {kernel_s:.1f} s, "
        "the rest in the notebooks' own shell cells "
        "(each `!` line a process of its own, through pipes once lab.ready() ran)"
    )
    print(
        f"{'':24} the slowest labkit cells: "
        + ", ".join(f"{line} {took:.2f} s" for took, line in sorted(slow, reverse=True)[:6])
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
