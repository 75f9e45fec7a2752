"""Releasing notebooks: solutions become exercise cells, outputs go, nothing is half written."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.course.release import ReleasedNotebook, release, solution_cells
from labkit.errors import LabkitError, ReleaseError

CHECK = 'lab.check("tags.tag")'


def source_notebook() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("# Tags\nAn image can have many names."),
            new_code_cell("!docker pull nginx", execution_count=1, outputs=[new_output("stream", text="Pulled\n")]),
            new_markdown_cell("## Exercise: tag nginx\nGive nginx a second name."),
            new_code_cell(
                "!docker tag nginx my-nginx",
                execution_count=2,
                outputs=[new_output("stream", text="done\n")],
                metadata={"tags": ["solution", "keep-me"], "editable": True, "collapsed": False},
            ),
            new_code_cell(
                CHECK,
                execution_count=3,
                outputs=[new_output("execute_result", data={"text/plain": "passed"}, execution_count=3)],
                metadata={"tags": ["check"]},
            ),
            new_code_cell("!docker images", metadata={"tags": ["solution"]}),  # no markdown right above: nearest one
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "labkit": {"lesson": "tags"},
        },
    )


def write(path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "source"
    write(folder / "02-tags.ipynb", source_notebook())
    write(
        folder / "01-layers.ipynb", new_notebook(cells=[new_markdown_cell("No exercise here"), new_code_cell("1 + 1")])
    )
    write(folder / ".hidden.ipynb", source_notebook())
    write(folder / "sub" / "nested.ipynb", source_notebook())
    return folder


def test_solution_cells_finds_tagged_code_cells_only():
    nb = source_notebook()
    nb.cells.append(new_markdown_cell("text", metadata={"tags": ["solution"]}))
    assert solution_cells(nb) == [3, 5]


def test_release_replaces_solutions_and_clears_outputs(src, tmp_path):
    dst = tmp_path / "workspace" / "lessons"
    released = release(src, dst)
    assert released == [
        ReleasedNotebook("01-layers.ipynb", 0, dst / "01-layers.ipynb"),
        ReleasedNotebook("02-tags.ipynb", 2, dst / "02-tags.ipynb"),
    ]
    assert sorted(p.name for p in dst.iterdir()) == ["01-layers.ipynb", "02-tags.ipynb"]

    out = nbformat.read(str(dst / "02-tags.ipynb"), as_version=4)
    nbformat.validate(out)
    exercise = out.cells[3]
    assert exercise.source.startswith("# Your turn: Exercise: tag nginx\n")
    assert exercise.source == "# Your turn: Exercise: tag nginx\n# (then run the check cell below)\n"
    assert "docker tag" not in json.dumps(out)
    assert exercise.metadata["tags"] == ["exercise", "keep-me"]
    assert (exercise.metadata["editable"], exercise.metadata["collapsed"]) == (True, False)
    assert out.cells[5].source.startswith("# Your turn: Exercise: tag nginx")
    assert out.cells[5].metadata["tags"] == ["exercise"]

    for cell in out.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert out.cells[4].source == CHECK and out.cells[4].metadata["tags"] == ["check"]
    assert out.cells[1].source == "!docker pull nginx"
    assert [c.source for c in out.cells if c.cell_type == "markdown"] == [
        c.source for c in source_notebook().cells if c.cell_type == "markdown"
    ]
    assert out.metadata["labkit"] == {"lesson": "tags"} and out.metadata["kernelspec"]["name"] == "python3"


def test_the_source_notebooks_are_not_changed(src, tmp_path):
    before = (src / "02-tags.ipynb").read_bytes()
    release(src, tmp_path / "out")
    assert (src / "02-tags.ipynb").read_bytes() == before


def test_a_solution_with_no_markdown_above_gets_the_default_task(tmp_path):
    write(tmp_path / "s" / "a.ipynb", new_notebook(cells=[new_code_cell("x = 1", metadata={"tags": ["solution"]})]))
    release(tmp_path / "s", tmp_path / "d")
    cell = nbformat.read(str(tmp_path / "d" / "a.ipynb"), as_version=4).cells[0]
    assert cell.source == "# Your turn: write the commands for this exercise\n# (then run the check cell below)\n"


def test_refuses_to_overwrite_and_writes_nothing(src, tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "02-tags.ipynb").write_text("the learner's work")
    with pytest.raises(ReleaseError) as caught:
        release(src, dst)
    message = str(caught.value)
    assert "02-tags.ipynb" in message and "01-layers.ipynb" not in message
    assert "use --force to replace them (the learner's edits in them would be lost)" in message
    assert isinstance(caught.value, LabkitError) and "Next:" in message
    assert sorted(p.name for p in dst.iterdir()) == ["02-tags.ipynb"]
    assert (dst / "02-tags.ipynb").read_text() == "the learner's work"


def test_force_overwrites(src, tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "02-tags.ipynb").write_text("the learner's work")
    released = release(src, dst, force=True)
    assert [r.name for r in released] == ["01-layers.ipynb", "02-tags.ipynb"]
    assert nbformat.read(str(dst / "02-tags.ipynb"), as_version=4).cells[3].metadata["tags"][0] == "exercise"


def test_releasing_into_the_source_folder_is_refused(src):
    with pytest.raises(ReleaseError):
        release(src, src, force=True)


def test_a_file_that_is_not_json_is_named(src, tmp_path):
    (src / "03-broken.ipynb").write_text("{ this is not json")
    with pytest.raises(ReleaseError) as caught:
        release(src, tmp_path / "dst")
    assert "03-broken.ipynb" in str(caught.value) and "not JSON" in str(caught.value)
    assert "Next:" in str(caught.value)
    assert not (tmp_path / "dst").exists()


def test_a_schema_invalid_notebook_is_named(src, tmp_path):
    nb = json.loads(nbformat.writes(source_notebook()))
    nb["cells"][1]["cell_type"] = "spreadsheet"
    (src / "00-odd.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ReleaseError) as caught:
        release(src, tmp_path / "dst")
    message = str(caught.value)
    assert "00-odd.ipynb" in message and "notebook format" in message and "cell 2" in message
    assert not (tmp_path / "dst").exists()


def test_a_json_file_that_is_no_notebook(src, tmp_path):
    (src / "04-list.ipynb").write_text("[1, 2, 3]")
    with pytest.raises(ReleaseError, match="04-list.ipynb"):
        release(src, tmp_path / "dst")
