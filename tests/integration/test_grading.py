"""`labkit grade` on a class of submissions made from the released notebooks: correct, partly
correct, every robustness case, and malformed files, with exact scores and reasons."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from conftest import REPO
from nbformat.v4 import new_code_cell, new_notebook

from labkit.course.release import release
from labkit.grading.verify import GRADER_SAYS
from labkit.machine.processes import cmdline

HANG_TIMEOUT = "6"  # the cell limit for the submissions that hang on purpose


def released(tmp_path: Path) -> Path:
    folder = tmp_path / "released"
    if not folder.exists():
        release(REPO / "notebooks", folder)
    return folder


def start_here(
    tmp_path: Path, *extra_before_solution: str, solution: bool = True, check: str | None = None
) -> nbformat.NotebookNode:
    """The released 00-start-here, with cells put before its exercise cell, the solution filled in or
    not, and its check cell replaced by `check` ("" removes it)."""
    nb = nbformat.read(released(tmp_path) / "00-start-here.ipynb", as_version=4)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "exercise" in tags:
            cells += [new_code_cell(source) for source in extra_before_solution]
            if solution:
                cell.source = "!docker pull busybox"
        if "nbval-check-output" in tags and check is not None:
            if not check:
                continue
            cell.source = check
        cells.append(cell)
    nb.cells = cells
    return nb


def write(folder: Path, name: str, nb) -> None:
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture(scope="module")
def graded(lab, tmp_path_factory):
    """Grade the whole class once (sequentially); the tests read the reports. The submissions that
    hang on purpose are graded in a run of their own with a short cell limit (`--timeout-cell 6`); the
    rest with the default limit, so pulling nginx on a busy machine never times out."""
    tmp = tmp_path_factory.mktemp("grading")
    subs, hanging = tmp / "submissions", tmp / "hanging"
    subs.mkdir()
    hanging.mkdir()
    nbformat.write(
        nbformat.read(REPO / "notebooks" / "00-start-here.ipynb", as_version=4), subs / "correct-00-start-here.ipynb"
    )
    write(subs, "undone-00-start-here", start_here(tmp, solution=False))
    inspect = nbformat.read(released(tmp) / "03-inspecting-images.ipynb", as_version=4)
    fills = iter(["!docker pull nginx", "", "!docker tag nginx myrepo/nginx:v1", ""])
    for cell in inspect.cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = next(fills)
    write(subs, "partly-03-inspecting-images", inspect)
    nbformat.write(
        nbformat.read(REPO / "notebooks" / "08-capstone.ipynb", as_version=4), subs / "correct-08-capstone.ipynb"
    )
    nbformat.write(nbformat.read(released(tmp) / "08-capstone.ipynb", as_version=4), subs / "undone-08-capstone.ipynb")
    write(hanging, "loop-output-00-start-here", start_here(tmp, "while True:\n    print('again and again')"))
    write(hanging, "loop-silent-00-start-here", start_here(tmp, "while True:\n    pass"))
    write(
        hanging,
        "loop-stubborn-00-start-here",
        start_here(
            tmp,
            "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass",
        ),
    )
    write(hanging, "input-00-start-here", start_here(tmp, "name = input('your name? ')"))
    write(hanging, "tty-00-start-here", start_here(tmp, "!docker run -it busybox sh"))
    write(subs, "dies-00-start-here", start_here(tmp, "import os\nos._exit(1)"))
    write(
        subs,
        "leftover-00-start-here",
        start_here(tmp, "import subprocess\nsubprocess.Popen(['sleep', '600'], start_new_session=True)"),
    )
    nb = start_here(tmp)
    nb.cells.append(new_code_cell("!docker system prune -af\n!docker rmi -f $(docker images -q)"))
    write(subs, "prune-00-start-here", nb)
    write(
        subs,
        "cheat-00-start-here",
        start_here(
            tmp,
            "import labkit\nlabkit.lab.check = lambda *a, **k: print('✓ PASSED  start.pull (1/1 points)')\n"
            "get_ipython().showtraceback = lambda *a, **k: None",
            solution=False,
        ),
    )
    write(
        subs,
        "hidden-error-00-start-here",
        start_here(tmp, "get_ipython().showtraceback = lambda *a, **k: None\nraise ValueError('hidden')"),
    )
    write(subs, "nocheck-00-start-here", start_here(tmp, check=""))
    write(subs, "editedcheck-00-start-here", start_here(tmp, solution=False, check="print('✓ PASSED  start.pull')"))
    layers = new_notebook(
        cells=[
            new_code_cell("!docker pull -q debian:bookworm-slim\n!docker tag debian:bookworm-slim layered-app:v1"),
            new_code_cell('from labkit import lab\nlab.check("layers.build")'),
        ],
        metadata={"labkit": {"lesson": "layers"}},
    )
    write(subs, "tagged-04-layers", layers)
    (subs / "broken-json.ipynb").write_text('{"cells": [')
    bad = new_notebook(cells=[new_code_cell("1")])
    bad_raw = json.loads(nbformat.writes(bad))
    bad_raw["cells"][0]["cell_type"] = "spreadsheet"
    (subs / "bad-schema.ipynb").write_text(json.dumps(bad_raw))
    bad_raw["cells"][0].update(cell_type="code", metadata=["a", "list"])
    (subs / "list-metadata.ipynb").write_text(json.dumps(bad_raw))
    future = json.loads(nbformat.writes(bad))
    future["nbformat"] = 99
    (subs / "too-new.ipynb").write_text(json.dumps(future))
    out = tmp / "grades"
    result = lab.labkit(
        "grade",
        str(subs),
        "--out",
        str(out),
        "--timeout-notebook",
        "300",
        "--format",
        "gradescope",
        check=False,
        timeout=1800,
    )
    lab.labkit(
        "grade",
        str(hanging),
        "--out",
        str(tmp / "hanging-grades"),
        "--timeout-cell",
        HANG_TIMEOUT,
        "--timeout-notebook",
        "300",
        check=False,  # each row's test says what went wrong with it, with its problem and events
        timeout=1800,
    )
    rows = {
        row["name"]: row
        for report in (out, tmp / "hanging-grades")
        for row in json.loads((report / "report.json").read_text())["submissions"]
    }
    return result, rows, out, subs


@pytest.mark.course  # graded on both engines: a worked and a blank capstone among them
def test_scores_of_correct_undone_and_partly_correct(graded):
    result, rows, _out, _subs = graded
    correct = rows["correct-00-start-here"]
    assert (correct["points"], correct["possible"]) == (1, 1), (
        correct["status"],
        correct["problem"],
        correct["events"],
    )
    assert (rows["undone-00-start-here"]["points"], rows["undone-00-start-here"]["possible"]) == (0, 1)
    assert "There is no image busybox:latest" in rows["undone-00-start-here"]["exercises"]["start.pull"]["feedback"]
    assert (rows["correct-08-capstone"]["points"], rows["correct-08-capstone"]["possible"]) == (10, 10)
    ready = nbformat.read(rows["correct-08-capstone"]["graded_notebook"], as_version=4).cells
    ready = next(c for c in ready if "lab.ready()" in c.source)
    assert "The lab is ready" in json.dumps(ready.outputs), ready.outputs  # the class's mirror counts as up
    site = next(
        c
        for c in nbformat.read(rows["correct-08-capstone"]["graded_notebook"], as_version=4).cells
        if 'lab.check("capstone.site")' in c.source
    )
    assert "✓ PASSED  capstone.site" in "".join(o.get("text", "") for o in site.outputs).split(GRADER_SAYS)[1]
    assert (rows["undone-08-capstone"]["points"], rows["undone-08-capstone"]["possible"]) == (0, 10)
    partly = rows["partly-03-inspecting-images"]
    assert (partly["points"], partly["possible"]) == (3, 7)
    submitted = nbformat.read(_subs / "partly-03-inspecting-images.ipynb", as_version=4)
    graded_copy = nbformat.read(partly["graded_notebook"], as_version=4)
    assert [c.source for c in graded_copy.cells][: len(submitted.cells)] == [
        c.source for c in submitted.cells
    ]  # none replaced
    assert {k for k, v in partly["exercises"].items() if v["passed"]} == {"inspect.pull", "inspect.tag"}


@pytest.mark.parametrize(
    "name, reason",
    [
        ("loop-output-00-start-here", "ran past 6 s and was interrupted"),
        ("loop-silent-00-start-here", "ran past 6 s and was interrupted"),
        ("loop-stubborn-00-start-here", "ignored the interrupt: its kernel was restarted"),
        ("input-00-start-here", "asked for input()"),
        ("tty-00-start-here", "opens an interactive container (`docker … -it`)"),
        ("prune-00-start-here", "removed images wholesale"),
        ("hidden-error-00-start-here", "raised ValueError: hidden"),  # its traceback hidden: the kernel's reply says
        ("leftover-00-start-here", "left 1 process(es) running after its last cell: they were stopped"),
    ],
)
def test_robustness_cases_are_graded_with_a_reason(graded, name, reason):
    _result, rows, _out, _subs = graded
    row = rows[name]
    assert row["status"] == "graded", "\n".join([row["problem"], *row["events"]])  # the whole engine log's end
    assert row["points"] == 1, f"{name}: the work after the bad cell still counts\n{row}"
    assert any(reason in event for event in row["events"]), row["events"]


def test_nothing_a_submission_started_outlives_its_grading(graded):
    import os

    from labkit.machine.processes import cmdline

    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    assert [pid for pid in pids if cmdline(pid) == ["sleep", "600"]] == []  # leftover-00-start-here's


def test_report_json_times_each_exercise(graded):
    _result, rows, _out, _subs = graded
    timings = rows["correct-00-start-here"]["exercises"]["start.pull"]["timings"]
    assert isinstance(timings["cell"], int) and timings["cell_seconds"] > 0 and timings["check_seconds"] > 0
    at_end = rows["nocheck-00-start-here"]["exercises"]["start.pull"]["timings"]
    assert at_end["cell"] is None and at_end["check_seconds"] > 0


def test_a_loop_printing_forever_has_its_output_cut(graded):
    _result, rows, _out, _subs = graded
    nb = nbformat.read(rows["loop-output-00-start-here"]["graded_notebook"], as_version=4)
    loop = next(c for c in nb.cells if "again and again" in c.source)
    assert len(json.dumps(loop.outputs)) < 260_000
    assert "output cut" in json.dumps(loop.outputs)


def test_a_dying_kernel_is_reported_and_the_exercise_checked_at_the_end(graded):
    _result, rows, _out, _subs = graded
    row = rows["dies-00-start-here"]
    assert row["status"] == "graded" and row["points"] == 0
    assert any("kernel died" in e for e in row["events"])
    assert any("never checked in the notebook: checked at the end" in e for e in row["events"])


def test_what_a_notebook_does_to_labkit_or_prints_never_scores(graded):
    _result, rows, _out, _subs = graded
    assert rows["cheat-00-start-here"]["points"] == 0
    assert rows["editedcheck-00-start-here"]["points"] == 0
    assert rows["nocheck-00-start-here"]["points"] == 1  # done, check cell deleted: checked at the end
    assert any("checked at the end" in e for e in rows["nocheck-00-start-here"]["events"])
    # the graded copies show the grader's own result: under the check cell, or in a last cell
    cheat = nbformat.read(rows["cheat-00-start-here"]["graded_notebook"], as_version=4)
    check = next(c for c in cheat.cells if 'lab.check("start.pull")' in c.source)
    shown = "".join(o.get("text", "") for o in check.outputs)
    assert "✓ PASSED  start.pull" in shown  # what the cheat printed ...
    assert shown.index(GRADER_SAYS) > shown.index("✓ PASSED  start.pull")
    assert "✗ NOT YET  start.pull" in shown.split(GRADER_SAYS)[1]  # ... and, below it, what counts
    nocheck = nbformat.read(rows["nocheck-00-start-here"]["graded_notebook"], as_version=4)
    assert (
        nocheck.cells[-1].cell_type == "markdown" and "Checked by `labkit grade` at the end" in nocheck.cells[-1].source
    )
    assert "✓ PASSED  start.pull" in nocheck.cells[-1].source
    nbformat.validate(nocheck)


def test_a_tag_where_a_build_was_required(graded):
    _result, rows, _out, _subs = graded
    feedback = rows["tagged-04-layers"]["exercises"]["layers.build"]["feedback"]
    assert rows["tagged-04-layers"]["points"] == 0 and "tagged, not built" in feedback


@pytest.mark.parametrize(
    "name, reason",
    [
        ("broken-json", "its JSON is broken"),
        ("bad-schema", "is not a valid notebook"),
        ("list-metadata", "is not a valid notebook: ['a', 'list'] is not of type 'object' (cell 0, metadata)"),
        ("too-new", "uses notebook format 99"),
    ],
)
def test_malformed_files_are_reported_and_the_batch_goes_on(graded, name, reason):
    result, rows, _out, _subs = graded
    assert rows[name]["status"] == "invalid" and reason in rows[name]["problem"]
    assert result.returncode == 1, result.stderr[-3000:]  # some submissions could not be graded
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_reports_csv_html_gradescope(graded):
    _result, rows, out, subs = graded
    with open(out / "report.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert sorted(r["submission"] for r in table) == sorted(p.stem for p in subs.glob("*.ipynb"))
    correct = next(r for r in table if r["submission"] == "correct-00-start-here")
    assert (correct["start.pull"], correct["total"], correct["possible"]) == ("1", "1", "1")
    page = (out / "report.html").read_text()
    assert "<svg" in page and "Pass rate per exercise" in page and "undone-00-start-here" in page
    scope = json.loads((out / "gradescope" / "correct-00-start-here" / "results.json").read_text())
    assert scope["score"] == 1 and scope["tests"][0]["max_score"] == 1


def test_the_class_mirror_keeps_its_base_images(graded, lab):
    from labkit.registries import RegistryClient
    from labkit.registries.seeding import present

    assert sorted(present(RegistryClient(lab.mirror))) == ["busybox:latest", "debian:bookworm-slim", "nginx:latest"]


def test_an_infrastructure_fault_is_not_a_zero_and_only_failed_regrades(lab, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(
        nbformat.read(REPO / "notebooks" / "00-start-here.ipynb", as_version=4), subs / "a-00-start-here.ipynb"
    )
    out = tmp_path / "grades"
    broken = tmp_path / "broken-bin"  # first on PATH: a docker-registry that fails as it starts
    broken.mkdir()
    (broken / "docker-registry").write_text("#!/bin/sh\necho 'broken on purpose' >&2\nexit 1\n")
    (broken / "docker-registry").chmod(0o755)
    first = lab.labkit(
        "grade",
        str(subs),
        "--out",
        str(out),
        check=False,
        env={"PATH": f"{broken}:{lab.env.get('PATH', os.environ['PATH'])}"},
    )
    assert first.returncode == 1
    row = json.loads((out / "report.json").read_text())["submissions"][0]
    assert row["status"] == "infrastructure" and "(Docker Distribution) did not start" in row["problem"], row["problem"]
    assert "broken on purpose" in row["problem"]  # the registry's own words, from its log
    again = lab.labkit("grade", str(subs), "--out", str(out), "--only-failed")
    assert again.returncode == 0
    row = json.loads((out / "report.json").read_text())["submissions"][0]
    assert row["status"] == "graded" and row["points"] == 1
    nothing = lab.labkit("grade", str(subs), "--out", str(out), "--only-failed")
    assert "Nothing to grade again" in nothing.stdout
    assert json.loads((out / "report.json").read_text())["submissions"] == [row]  # the report is kept as it was


def test_parallel_jobs_grade_the_same(lab, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(
        nbformat.read(REPO / "notebooks" / "00-start-here.ipynb", as_version=4), subs / "a-00-start-here.ipynb"
    )
    write(subs, "b-00-start-here", start_here(tmp_path, solution=False))
    write(subs, "c-00-start-here", start_here(tmp_path))
    out = tmp_path / "grades"
    lab.labkit("grade", str(subs), "--out", str(out), "--jobs", "2")
    rows = {r["name"]: r["points"] for r in json.loads((out / "report.json").read_text())["submissions"]}
    assert rows == {"a-00-start-here": 1, "b-00-start-here": 0, "c-00-start-here": 1}
    # Every lab the workers made (each its first before the run had seeded) was taken down.
    assert [pid for pid in _pids() if any(re.search(r"/labkit-\w+/labs/", a) for a in cmdline(pid))] == []


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def test_a_grading_lab_that_fails_to_start_leaves_nothing_running(lab, tmp_path, monkeypatch):
    import shutil as sh

    from labkit.errors import MissingProgram
    from labkit.grading.labs import prepare
    from labkit.home import RegistryState
    from labkit.machine.processes import cmdline

    only_registry = tmp_path / "bin"
    only_registry.mkdir()
    (only_registry / "docker-registry").symlink_to(sh.which("docker-registry"))
    monkeypatch.setenv("PATH", str(only_registry))  # the registry starts, dockerd cannot
    port = int(lab.mirror.rsplit(":", 1)[1])
    with pytest.raises(MissingProgram):
        prepare(tmp_path / "work", RegistryState(port=port), tmp_path / "cache")
    home = str(tmp_path / "work")
    leftovers = [
        pid
        for pid in map(int, filter(str.isdigit, __import__("os").listdir("/proc")))
        if any(home in a for a in cmdline(pid))
    ]
    assert leftovers == []


def test_a_grading_lab_whose_registry_cannot_start_leaves_no_memory_mounted(lab, tmp_path, monkeypatch):
    """The lab's home is a tmpfs before its registry starts: a registry that cannot start must not
    leave it mounted (nor the home behind)."""
    import shutil as sh

    from labkit.errors import MissingProgram
    from labkit.grading.labs import prepare
    from labkit.home import RegistryState

    tools = tmp_path / "bin"
    tools.mkdir()
    for program in ("mount", "umount"):  # the tmpfs can be mounted; docker-registry is missing
        (tools / program).symlink_to(sh.which(program))
    monkeypatch.setenv("PATH", str(tools))
    home = tmp_path / "work"
    with pytest.raises(MissingProgram):
        prepare(home, RegistryState(port=int(lab.mirror.rsplit(":", 1)[1])), tmp_path / "cache")
    assert _filesystem(home) is None and not home.exists()


@pytest.mark.parametrize(
    "seeding",
    ["itself", "copied", "copied-once-made"],
    ids=["seeded-through-the-api", "copied-from-a-seeded-registry", "seeded-while-its-engine-starts"],
)
def test_a_grading_registry_holds_the_base_layers_but_nothing_pushed(lab, tmp_path, seeding):
    """Each fresh registry has the base images' layers in the course's repositories (so a push of an
    image built on nginx sends only its own layers), and no manifest or tag at all: whether it was
    seeded itself, or started from a copy of the storage of one seeded once for the run (made
    before, or while the lab's engine starts: a Future, as the first lab of a run gets it)."""
    import threading
    from concurrent.futures import Future

    import requests

    from labkit.grading.labs import dismantle, prepare, seeded_registry
    from labkit.home import RegistryState
    from labkit.registries import RegistryClient, programs
    from labkit.registries.seeding import base_layers

    mirror = RegistryState(port=int(lab.mirror.rsplit(":", 1)[1]))
    seeded = None
    if seeding == "copied":
        seeded = seeded_registry(tmp_path / "seeded", mirror, tmp_path / "cache")
    elif seeding == "copied-once-made":
        seeded = Future()
        threading.Thread(
            target=lambda: seeded.set_result(seeded_registry(tmp_path / "seeded", mirror, tmp_path / "cache"))
        ).start()
    grading = prepare(tmp_path / "lab", mirror, tmp_path / "cache", seeded)
    try:
        environment = Path(f"/proc/{grading.state.engine.pid}/environ").read_bytes().split(b"\0")
        assert b"GOGC=400" in environment  # a throwaway engine (see _managed_engine.THROWAWAY_GOGC)
        registry = programs.client(grading.paths, programs.REGISTRY, grading.state.registry)
        layers = base_layers(RegistryClient(lab.mirror))
        assert len(layers) >= 3  # busybox's, debian's, and nginx's own on top of debian's
        for repo in ("learner/mysite", "learner/myapp"):
            assert registry.tags(repo) == [] and registry.manifest_digest(repo, "v1") is None
            for digest in layers:
                answer = requests.head(
                    f"http://{grading.state.registry.address}/v2/{repo}/blobs/{digest}",
                    auth=("learner", programs.password(grading.paths)),
                    timeout=10,
                )
                assert answer.status_code == 200, (repo, digest)
        assert (
            registry.mount_blob("learner/other", next(iter(layers)), "learner/nothing-here") is False
        )  # no such source
        anonymous = requests.head(
            f"http://{grading.state.registry.address}/v2/learner/mysite/blobs/{next(iter(layers))}", timeout=10
        )
        assert anonymous.status_code == 401  # the login is still needed
        assert _filesystem(grading.paths.home) == "tmpfs"  # a lab for one submission lives in memory (as root)
    finally:
        dismantle(grading)
    assert _filesystem(tmp_path / "lab") is None and not (tmp_path / "lab").exists()  # unmounted and gone


def test_a_grading_lab_whose_seeded_registry_never_comes_takes_itself_down(lab, tmp_path):
    """The first lab of a `--jobs N` worker starts its engine before the run's seeded registry exists.
    A worker that gets no submission gives it up (the Future is cancelled): that lab must go, engine
    and memory, not wait for ever."""
    import threading
    from concurrent.futures import CancelledError, Future

    from labkit.grading.labs import prepare
    from labkit.home import RegistryState

    seeded: Future = Future()
    home = tmp_path / "lab"
    started = threading.Timer(0.5, seeded.cancel)  # by then its engine is starting, or started
    started.start()
    with pytest.raises(CancelledError):
        prepare(home, RegistryState(port=int(lab.mirror.rsplit(":", 1)[1])), tmp_path / "cache", seeded)
    assert [pid for pid in _pids() if any(str(home) in a for a in cmdline(pid))] == []
    assert _filesystem(home) is None and not home.exists()


def test_a_lab_in_memory_is_unmounted_with_no_umount_on_path(lab, tmp_path, monkeypatch):
    """A grader started with a short PATH must still free each lab's memory (and dockerd's mount)."""
    from labkit.labs import fresh

    home = tmp_path / "lab"
    assert fresh._in_memory(home) and _filesystem(home) == "tmpfs"
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    fresh._release_memory(home)
    assert _filesystem(home) is None


def _filesystem(path: Path) -> str | None:
    """The type of the file system mounted exactly at `path`, or None."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == str(path):
            return fields[2]
    return None


def test_grading_as_a_teacher_types_it_starts_the_lab_it_needs(lab, tmp_path):
    """`sudo .venv/bin/labkit grade …`: sudo gives root's own lab home, where no lab was started (the
    teacher's `labkit up` made theirs). Before: "The lab is not up". Now the run starts the lab it
    needs there, says so, grades, and stops it again."""
    subs = tmp_path / "subs"
    subs.mkdir()
    write(subs, "ann-00-start-here", start_here(tmp_path))
    root_home = tmp_path / "root"
    env = {"HOME": str(root_home), "SUDO_USER": "nobody", "LABKIT_HOME": ""}
    done = lab.labkit("grade", str(subs), "--out", str(tmp_path / "out"), env=env, check=False, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No lab was up in" in done.stderr and "stops it when it is done" in done.stderr
    (row,) = json.loads((tmp_path / "out" / "report.json").read_text())["submissions"]
    assert row["status"] == "graded" and row["points"] == 1
    status = lab.labkit("status", "--json", env=env, check=False)
    assert json.loads(status.stdout)["ok"] is False  # taken down again: nothing of it runs
    home = root_home / ".local" / "share" / "labkit"
    assert [pid for pid in _pids() if any(str(home) in a for a in cmdline(pid))] == []


def _class_of_40(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """40 mixed submissions, and the score each must get."""
    subs = tmp_path / "class"
    subs.mkdir()
    expected: dict[str, float] = {}
    worked08 = nbformat.read(REPO / "notebooks" / "08-capstone.ipynb", as_version=4)
    blank08 = nbformat.read(released(tmp_path) / "08-capstone.ipynb", as_version=4)
    partly03 = nbformat.read(released(tmp_path) / "03-inspecting-images.ipynb", as_version=4)
    fills = iter(["!docker pull nginx", "", "!docker tag nginx myrepo/nginx:v1", ""])
    for cell in partly03.cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = next(fills)
    kinds = (
        [("00-start-here", start_here(tmp_path), 1)] * 12
        + [("00-start-here", start_here(tmp_path, solution=False), 0)] * 12
        + [("08-capstone", worked08, 10)] * 8
        + [("08-capstone", blank08, 0)] * 4
        + [("03-inspecting-images", partly03, 3)] * 4
    )
    for i, (lesson, nb, points) in enumerate(kinds):
        (subs / f"learner{i:02d}").mkdir()
        nbformat.write(nb, subs / f"learner{i:02d}" / f"{lesson}.ipynb")
        expected[f"learner{i:02d}/{lesson}"] = points
    return subs, expected


@pytest.mark.parametrize("mode", ["sandboxed", "unsandboxed"])
def test_a_class_of_40_mixed_submissions_scores_exactly_as_expected_at_jobs_2(lab, tmp_path, mode):
    """Every score as expected, none "infrastructure": a grading lab that is subtly broken (a kernel
    that cannot import labkit, one that dies at its start) shows here as a wrong row, named."""
    subs, expected = _class_of_40(tmp_path)
    out = tmp_path / "grades"
    done = lab.labkit(
        "grade",
        str(subs),
        "--out",
        str(out),
        "--jobs",
        "2",
        *(["--no-sandbox"] if mode == "unsandboxed" else []),
        check=False,
        timeout=1800,
    )
    rows = {r["name"]: r for r in json.loads((out / "report.json").read_text())["submissions"]}
    wrong = {
        name: (r["status"], r["points"], r["problem"] or r["events"])
        for name, r in rows.items()
        if r["status"] != "graded" or r["points"] != expected[name]
    }
    assert sorted(rows) == sorted(expected) and wrong == {}, (wrong, done.stderr[-2000:])
    assert done.returncode == 0


def test_a_hostile_submissions_folder_is_graded_in_its_time_and_nothing_of_a_links_target_shows(lab, tmp_path):
    """Before: a FIFO named x.ipynb hung `labkit grade` for ever, and a link to a file under /etc made
    every sandbox of the batch fail to start (/etc was hidden), the whole class "infrastructure"."""
    import secrets

    subs = tmp_path / "subs"
    subs.mkdir()
    token = f"SECRET-{secrets.token_hex(6)}"
    (tmp_path / "secret.ipynb").write_text(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": token}],
            }
        )
    )
    os.mkfifo(subs / "fifo.ipynb")
    (subs / "passwd.ipynb").symlink_to("/etc/passwd")
    (subs / "out.ipynb").symlink_to(tmp_path / "secret.ipynb")
    (subs / "x.ipynb").mkdir()
    with open(subs / "huge.ipynb", "wb") as huge:
        huge.truncate(300 * 2**20)
    many = new_notebook(cells=[new_code_cell("") for _ in range(5000)], metadata={"labkit": {"lesson": "start"}})
    nbformat.write(many, subs / "many-cells.ipynb")
    nbformat.write(
        nbformat.read(REPO / "notebooks" / "08-capstone.ipynb", as_version=4), subs / "worked-08-capstone.ipynb"
    )
    out = tmp_path / "grades"
    done = lab.labkit(
        "grade", str(subs), "--out", str(out), "--format", "gradescope", "--format", "canvas", check=False, timeout=600
    )
    rows = {r["name"]: r for r in json.loads((out / "report.json").read_text())["submissions"]}
    assert (rows["worked-08-capstone"]["status"], rows["worked-08-capstone"]["points"]) == ("graded", 10), done.stderr[
        -3000:
    ]
    assert (rows["many-cells"]["status"], rows["many-cells"]["points"]) == ("graded", 0)
    for name, said in (
        ("fifo", "is a FIFO"),
        ("passwd", "is a link"),
        ("out", "is a link"),
        ("x", "is a folder"),
        ("huge", "is over 50 MB"),
    ):
        assert rows[name]["status"] == "invalid" and said in rows[name]["problem"], rows[name]
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert token not in written and "root:x:0:0" not in written  # nothing of a link's target in any report
    assert done.returncode == 1  # some could not be graded, and says so
