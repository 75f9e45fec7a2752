"""Build the course notebooks from authoring/lessons.py.

    .venv/bin/python -m authoring.build            # write notebooks/*.ipynb (no outputs)
    .venv/bin/python -m authoring.build --execute  # also run each against the lab, store the outputs

With --execute (the lab must be up: `labkit up`), each notebook runs from a full
`labkit reset`, in a scratch workspace (so the repository gets none of its files), and
must finish with every check passed; its outputs are then stored, which is what
`pytest --nbval-lax` compares the check cells against (through notebooks/sanitize.cfg).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_notebook

from authoring.cells import tracker
from authoring.lessons import NOTEBOOKS
from labkit.course import LabContext
from labkit.course.catalog import LESSONS
from labkit.course.release import TRACKER_TAG
from labkit.course.reset import reset
from labkit.ui.tracking import stored_output

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def notebook(cells: list, lesson: str) -> nbformat.NotebookNode:
    """The lesson's cells, its tracker right after the first code cell (the lab's `ready()`)."""
    first = next(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    cells = [*cells[: first + 1], tracker(lesson), *cells[first + 1 :]]
    metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}, "labkit": {"lesson": lesson}}
    nb = new_notebook(cells=cells, metadata=metadata)
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"c{index:02d}"  # stable ids: rebuilding changes no cell id
    nbformat.validate(nb)
    return nb


def execute(nb: nbformat.NotebookNode, workspace: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run the notebook in `workspace`, its checks reading that workspace (not the one `labkit lab`
    last opened, which the lab remembers)."""
    saved = os.environ.get("LABKIT_WORKSPACE")
    os.environ["LABKIT_WORKSPACE"] = str(workspace)  # the kernel nbclient starts inherits it
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workspace)}}
        ).execute()
    finally:
        if saved is None:
            os.environ.pop("LABKIT_WORKSPACE", None)
        else:
            os.environ["LABKIT_WORKSPACE"] = saved
    return nb


def check_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """The text of every check cell's output, in order."""
    texts = []
    for cell in nb.cells:
        if "nbval-check-output" in cell.metadata.get("tags", []):
            texts.append("".join(o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", [])))
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--execute", action="store_true", help="run each notebook against the lab and store its outputs"
    )
    parser.add_argument("only", nargs="*", help="notebook names (default: all)")
    args = parser.parse_args(argv)
    FOLDER.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        if args.only and name not in args.only:
            continue
        nb = notebook(cells, next(lesson for lesson, notebook_name, _ in LESSONS if notebook_name == name))
        if args.execute:
            with tempfile.TemporaryDirectory(prefix="labkit-course-") as tmp:
                ctx = LabContext.from_env(Path(tmp))
                reset(ctx)
                ctx.close()
                execute(nb, Path(tmp))
            for cell in nb.cells:  # the tracker's stored output, not the build kernel's
                if TRACKER_TAG in cell.metadata.get("tags", []):
                    cell.outputs = [stored_output(nb.metadata["labkit"]["lesson"])]
            failed = [text for text in check_outputs(nb) if "PASSED" not in text]
            if failed:
                print(f"{name}: a check did not pass:\n" + "\n".join(failed), file=sys.stderr)
                return 1
        nbformat.write(nb, FOLDER / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb" + (" (executed, every check passed)" if args.execute else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
