"""`labkit lab`'s workspace: learner copies added, never overwritten; `--fresh` keeps the old copy;
the JupyterLab command line and environment (no server started here)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.course.release import WorkspaceNotebook, fresh, notebook_name, stock
from labkit.errors import ReleaseError
from labkit.labs import jupyter

REPO = Path(__file__).resolve().parents[2]


def lesson(solution: str) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("### Exercise: pull busybox"),
            new_code_cell(solution, metadata={"tags": ["solution"]}),
            new_code_cell('lab.check("start.pull")'),
        ]
    )


@pytest.fixture
def src(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(lesson("!docker pull busybox"), str(folder / "00-start-here.ipynb"))
    nbformat.write(lesson("!docker build -t layered-app:v1 ."), str(folder / "04-layers.ipynb"))
    return folder


def cells(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(str(path), as_version=4).cells]


def test_stock_copies_learner_notebooks_without_solutions(src, tmp_path):
    workspace = tmp_path / "workspace"
    stocked = stock(src, workspace)
    assert stocked == [
        WorkspaceNotebook("00-start-here.ipynb", workspace / "00-start-here.ipynb", copied=True),
        WorkspaceNotebook("04-layers.ipynb", workspace / "04-layers.ipynb", copied=True),
    ]
    text = (workspace / "00-start-here.ipynb").read_text()
    assert "docker pull busybox" not in text and "Your turn: Exercise: pull busybox" in text
    assert 'lab.check(\\"start.pull\\")' in text


def test_stock_never_overwrites_a_learner_notebook(src, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "04-layers.ipynb").write_text("the learner's own work")
    stocked = stock(src, workspace)
    assert [(item.name, item.copied) for item in stocked] == [("00-start-here.ipynb", True), ("04-layers.ipynb", False)]
    assert (workspace / "04-layers.ipynb").read_text() == "the learner's own work"
    again = stock(src, workspace)
    assert [item.copied for item in again] == [False, False]
    assert sorted(p.name for p in workspace.iterdir()) == ["00-start-here.ipynb", "04-layers.ipynb"]


def test_stock_writes_nothing_when_a_source_is_broken(src, tmp_path):
    (src / "05-broken.ipynb").write_text("{ not json")
    with pytest.raises(ReleaseError, match="05-broken.ipynb"):
        stock(src, tmp_path / "workspace")
    assert not (tmp_path / "workspace").exists()


def test_stock_says_where_the_notebooks_should_be(tmp_path):
    with pytest.raises(ReleaseError, match="--notebooks"):
        stock(tmp_path / "nowhere", tmp_path / "workspace")


@pytest.mark.parametrize("name", ["04-layers", "04-layers.ipynb", "layers", "notebooks/04-layers.ipynb"])
def test_a_lesson_is_named_as_a_notebook_a_file_or_a_lesson(src, name):
    assert notebook_name(src, name) == "04-layers.ipynb"


def test_an_unknown_lesson_lists_the_known_ones(src):
    with pytest.raises(ReleaseError) as caught:
        notebook_name(src, "09-kubernetes")
    assert "09-kubernetes" in str(caught.value) and "00-start-here, 04-layers" in str(caught.value)


def test_fresh_moves_the_old_copy_aside_and_writes_a_new_one(src, tmp_path):
    workspace = tmp_path / "workspace"
    stock(src, workspace)
    (workspace / "04-layers.ipynb").write_text("the learner's own work")
    when = time.mktime((2026, 11, 27, 9, 15, 0, 0, 0, -1))
    renewed = fresh(src, workspace, "layers", now=when)
    assert renewed.saved == workspace / "04-layers.20261127-091500.ipynb"
    assert renewed.saved.read_text() == "the learner's own work"
    assert renewed.path == workspace / "04-layers.ipynb" and renewed.copied
    assert cells(renewed.path)[1].startswith("# Your turn")
    second = fresh(src, workspace, "04-layers", now=when)  # same second: a new name, nothing overwritten
    assert second.saved == workspace / "04-layers.20261127-091500-2.ipynb"
    assert renewed.saved.read_text() == "the learner's own work"


def test_fresh_without_an_old_copy_just_writes_one(src, tmp_path):
    renewed = fresh(src, tmp_path / "workspace", "04-layers")
    assert renewed.saved is None and renewed.path.exists()


def test_fresh_of_an_unknown_lesson_changes_nothing(src, tmp_path):
    workspace = tmp_path / "workspace"
    stock(src, workspace)
    before = sorted(p.name for p in workspace.iterdir())
    with pytest.raises(ReleaseError):
        fresh(src, workspace, "nope")
    assert sorted(p.name for p in workspace.iterdir()) == before


def test_every_course_notebook_can_be_named_by_its_lesson():
    from labkit.course.catalog import LESSONS

    for slug, notebook, _title in LESSONS:
        assert notebook_name(REPO / "notebooks", slug) == f"{notebook}.ipynb"


def test_the_url_opens_the_start_notebook_by_default(tmp_path):
    argv = jupyter.command("jupyter", tmp_path, port=9999, ip="127.0.0.1", no_browser=True)
    assert argv[:2] == ["jupyter", "lab"]
    assert f"--ServerApp.root_dir={tmp_path}" in argv
    assert "--LabApp.default_url=/lab/tree/00-start-here.ipynb" in argv
    assert {"--port=9999", "--ip=127.0.0.1", "--no-browser", "--ServerApp.answer_yes=True"} <= set(argv)
    assert "--allow-root" not in argv
    assert any(arg.startswith("--ServerApp.terminado_settings=shell_command=") for arg in argv)  # no login shell


def test_jupyterlab_keeps_its_own_defaults_when_not_told(tmp_path):
    argv = jupyter.command("jupyter", tmp_path, open_notebook="04-layers.ipynb", as_root=True)
    assert "--LabApp.default_url=/lab/tree/04-layers.ipynb" in argv and "--allow-root" in argv
    assert not any(arg.startswith(("--port", "--ip", "--no-browser")) for arg in argv)
    assert jupyter.start_path("my lesson.ipynb") == "/lab/tree/my%20lesson.ipynb"


def test_jupyterlab_gets_the_courses_setting_defaults_from_the_lab_home(tmp_path):
    """No "get Jupyter news?" pop-up and no update check: defaults a learner can still change."""
    folder = jupyter.settings_dir(tmp_path / "home")
    overrides = json.loads((folder / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    argv = jupyter.command("jupyter", tmp_path, settings=folder)
    assert f"--LabApp.app_settings_dir={folder}" in argv


def test_kernels_and_terminals_inherit_the_lab_variables(tmp_path):
    env = jupyter.environment(
        {"DOCKER_HOST": "unix:///lab.sock", "LABKIT_REGISTRY": "127.0.0.1:5001"},
        tmp_path,
        base={"PATH": "/bin", "DOCKER_HOST": "unix:///mine.sock"},
        bin_dir="/venv/bin",
    )
    assert env == {
        "PATH": "/venv/bin:/bin",
        "DOCKER_HOST": "unix:///lab.sock",
        "LABKIT_REGISTRY": "127.0.0.1:5001",
        "LABKIT_WORKSPACE": str(tmp_path),
        "LABKIT_TRACK": "server",  # the server keeps the lessons' trackers: a kernel runs none
    }
    again = jupyter.environment({}, tmp_path, base={"PATH": "/venv/bin:/bin"}, bin_dir="/venv/bin")
    assert again["PATH"] == "/venv/bin:/bin"  # `labkit` in a terminal: this environment's, once


# ---------------------------------------------------------------- `labkit lab`, with the lab and JupyterLab faked


class FakeLab:
    def __init__(self, up: bool) -> None:
        self.is_up, self.ups, self.runs = up, 0, []

    def status(self, paths):
        from types import SimpleNamespace

        return SimpleNamespace(ok=self.is_up)

    def up(self, paths, watcher=None):
        from labkit.labs.lifecycle import UpResult

        self.ups += 1
        self.is_up = True
        return UpResult(state=None, notes=["an engine note"])

    def env(self, paths):
        return {"DOCKER_HOST": "unix:///lab.sock", "LABKIT_REGISTRY": "127.0.0.1:5001"}

    def run(self, argv, env, workspace):
        self.runs.append((argv, env, workspace))
        return 0


@pytest.fixture
def fake_lab(monkeypatch):
    from labkit import cli

    def install(up: bool) -> FakeLab:
        fake = FakeLab(up)
        for name in ("status", "up", "env"):
            monkeypatch.setattr(cli.lifecycle, name, getattr(fake, name))
        monkeypatch.setattr(cli.jupyter, "run", fake.run)
        monkeypatch.setattr(cli.jupyter, "find_jupyter", lambda: "/venv/bin/jupyter")
        return fake

    return install


def test_labkit_lab_brings_the_lab_up_stocks_the_workspace_and_starts_jupyterlab(fake_lab, src, tmp_path, capsys):
    from labkit import cli

    fake = fake_lab(up=False)
    workspace = tmp_path / "workspace"
    code = cli.main(["lab", "--workspace", str(workspace), "--notebooks", str(src), "--no-browser", "--port", "9999"])
    assert code == 0 and fake.ups == 1
    ((argv, env, where),) = fake.runs
    assert argv[:2] == ["/venv/bin/jupyter", "lab"] and "--no-browser" in argv and "--port=9999" in argv
    assert f"--ServerApp.root_dir={workspace}" in argv and "--LabApp.default_url=/lab/tree/00-start-here.ipynb" in argv
    assert any(arg.startswith("--LabApp.app_settings_dir=") for arg in argv)  # the course's JupyterLab defaults
    assert env["DOCKER_HOST"] == "unix:///lab.sock" and env["LABKIT_WORKSPACE"] == str(workspace) and where == workspace
    said = " ".join(capsys.readouterr().err.split())
    assert "The lab is not up: starting it first" in said and "an engine note" in said
    assert "Copied 2 learner notebook(s)" in said and "Ctrl-C stops JupyterLab" in said
    assert sorted(p.name for p in workspace.iterdir()) == ["00-start-here.ipynb", "04-layers.ipynb"]


def test_labkit_lab_fresh_says_where_the_old_copy_went_and_opens_that_lesson(fake_lab, src, tmp_path, capsys):
    from labkit import cli

    fake = fake_lab(up=True)
    workspace = tmp_path / "workspace"
    stock(src, workspace)
    (workspace / "04-layers.ipynb").write_text("mine")
    assert cli.main(["lab", "--workspace", str(workspace), "--notebooks", str(src), "--fresh", "layers"]) == 0
    assert fake.ups == 0
    ((argv, _env, _where),) = fake.runs
    assert "--LabApp.default_url=/lab/tree/04-layers.ipynb" in argv and "--no-browser" not in argv
    said = " ".join(capsys.readouterr().err.split())
    saved = [p for p in workspace.iterdir() if p.name.startswith("04-layers.2")]
    assert len(saved) == 1 and saved[0].read_text() == "mine"
    assert f"moved aside to {saved[0]}" in said and "Kept your own 1 notebook(s)" in said


def test_labkit_lab_with_an_unknown_lesson_starts_nothing(fake_lab, src, tmp_path, capsys):
    from labkit import cli

    fake = fake_lab(up=True)
    assert cli.main(["lab", "--workspace", str(tmp_path / "w"), "--notebooks", str(src), "--fresh", "nope"]) == 1
    assert fake.runs == []
    err = capsys.readouterr().err
    assert "There is no course notebook 'nope'" in err and "Next:" in err and "Traceback" not in err


def test_check_hint_and_reset_read_the_workspace_labkit_lab_opened_wherever_they_run(tmp_path, monkeypatch):
    """Before: `labkit check image.rootfs` from another folder looked for the learner's tar there."""
    from labkit.course import LabContext
    from labkit.home import EngineState, LabPaths, RegistryState, State
    from labkit.labs.lifecycle import remember_workspace

    home, workspace, elsewhere = tmp_path / "home", tmp_path / "workspace", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.delenv("LABKIT_WORKSPACE", raising=False)
    monkeypatch.chdir(elsewhere)
    paths = LabPaths.from_env()
    State(engine=EngineState(host="unix:///x"), registry=RegistryState(port=5000)).save(paths)
    assert LabContext.from_env().workspace == elsewhere  # no `labkit lab` yet: here
    remember_workspace(paths, workspace)
    assert LabContext.from_env().workspace == workspace
    assert State.load(paths).registry.port == 5000  # nothing else of the state changed
    assert LabContext.from_env(tmp_path).workspace == tmp_path  # --workspace wins
    monkeypatch.setenv("LABKIT_WORKSPACE", str(elsewhere))
    assert LabContext.from_env().workspace == elsewhere  # as in JupyterLab's kernels and terminals
    monkeypatch.delenv("LABKIT_WORKSPACE")
    workspace.rmdir()
    assert LabContext.from_env().workspace == elsewhere  # a workspace since removed: here again
