"""The grading pipeline's steps, each small enough to test alone:

    validate → prepare (a fresh lab) → execute (cell by cell) → verify (at each checkpoint,
    from this process) → score → report (report.py)

Nothing the notebook prints, displays or does to `labkit` inside its kernel counts: at each
cell that calls `lab.check(ID)`, the grader runs exercise ID's check itself, against the
submission's own engine and registry. Exercises the notebook never checks are checked at the end.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import re
import shutil
import subprocess
import time
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell

from ..course import _catalog
from ..course._context import LabContext
from ..course._exercises import run_check
from ..course._results import ERROR, CheckResult
from ..errors import EngineUnreachable, LabkitError
from ..infra import _managed_engine, _mirror, _proc, _registries
from ..infra._engine_api import Engine
from ..infra._paths import LabPaths
from ..infra._registries import REGISTRY
from ..infra._registry_api import RegistryClient
from ..infra._state import EngineState, RegistryState, State
from ..ui import _jupyter
from ..ui._render import result_text

log = logging.getLogger(__name__)

OUTPUT_CAP = 200_000  # characters of output kept per cell
STUCK_PROBE_SECONDS = 10


@dataclass
class Submission:
    path: Path
    name: str
    notebook: nbformat.NotebookNode | None = None
    problem: str = ""  # why it could not be graded ("" when it was)
    infrastructure: bool = False  # the problem was the lab's, not the submission's
    events: list[str] = field(default_factory=list)  # what happened while it ran, in words
    results: dict[str, CheckResult] = field(default_factory=dict)
    timings: dict[str, dict] = field(default_factory=dict)  # per exercise: its checkpoint cell, how long it and the check took
    seconds: float = 0.0

    @property
    def graded(self) -> bool:
        return not self.problem


# --- validate ------------------------------------------------------------------------
def validate(path: Path) -> Submission:
    """Read and validate one notebook file: unreadable JSON, schema errors, too-new versions."""
    sub = Submission(path=path, name=path.stem)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        sub.problem = f"cannot be read: {e}"
        return sub
    except ValueError as e:
        sub.problem = f"is not a notebook: its JSON is broken ({e})"
        return sub
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        sub.problem = "is not a notebook: it has no nbformat version"
        return sub
    if raw["nbformat"] > nbformat.current_nbformat:
        sub.problem = f"uses notebook format {raw['nbformat']}, newer than this grader reads ({nbformat.current_nbformat})"
        return sub
    try:
        sub.notebook = _read(raw)
    except nbformat.ValidationError as e:
        sub.problem = f"is not a valid notebook: {_schema_problem(e)}"
    return sub


def _read(raw: dict) -> nbformat.NotebookNode:
    """The notebook in `raw`, validated; nbformat's ValidationError, which says what is wrong, if not."""
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except (nbformat.reader.NotJSONError, nbformat.NBFormatError, KeyError, TypeError, AttributeError) as e:
        # nbformat reads before it validates, and reading what its schema rejects can fail first with
        # an error of its own (metadata that is a list: "pop expected at most 1 argument, got 2").
        raise _schema_error(raw) or nbformat.ValidationError(str(e)) from e
    nbformat.validate(nb)
    return nb


def _schema_error(raw: dict) -> nbformat.ValidationError | None:
    """What nbformat's schema finds wrong in `raw`; None if nothing, or if it is too broken to look at."""
    try:
        nbformat.validate(copy.deepcopy(raw))  # (it adds missing cell ids as it validates)
    except nbformat.ValidationError as e:
        return e
    except (ImportError, LookupError, TypeError, AttributeError, ValueError):
        pass  # too broken for the validator too: the error reading it says what it can
    return None


def _schema_problem(error: nbformat.ValidationError) -> str:
    """nbformat's message, and the cell it is about: "… is not of type 'object' (cell 1, metadata)"."""
    message = str(error.message).splitlines()[0][:200]
    path = list(error.absolute_path)
    if len(path) < 2 or path[0] != "cells":
        return message
    inside = f", {'/'.join(str(p) for p in path[2:])}" if len(path) > 2 else ""
    return f"{message} (cell {path[1]}{inside})"


def exercises_of(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """The exercises a submission is graded on: its lesson's (from the notebook's metadata, else
    its file name), and any other exercise it checks."""
    lesson = (nb.metadata.get("labkit") or {}).get("lesson", "")
    if not lesson:
        lesson = next((l for l, notebook, _ in _catalog.LESSONS if name.startswith(notebook)), "")
    ids = [e.id for e in _catalog.lesson(lesson)] if lesson else []
    for cell in nb.cells:
        for exercise, _answer in checks_in(cell):
            if exercise not in ids and _known(exercise):
                ids.append(exercise)
    return ids


def _known(exercise: str) -> bool:
    try:
        _catalog.get(exercise)
    except LabkitError:
        return False
    return True


def checks_in(cell) -> list[tuple[str, str | None]]:
    """(exercise id, source of its answer= expression or None) for each `lab.check(...)` in a code cell."""
    if cell.cell_type != "code":
        return []
    try:
        tree = ast.parse(_python_only(cell.source))
    except SyntaxError:
        return [(m, None) for m in re.findall(r'lab\.check\(\s*["\']([\w.-]+)["\']', cell.source)]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                answer = next((ast.unparse(k.value) for k in node.keywords if k.arg == "answer"), None)
                if answer is None and len(node.args) > 1:
                    answer = ast.unparse(node.args[1])
                found.append((node.args[0].value, answer))
    return found


def _python_only(source: str) -> str:
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())


# --- prepare -------------------------------------------------------------------------------
@dataclass
class GradingLab:
    """A lab of one submission's own: a fresh managed engine and registry, the class's mirror."""

    paths: LabPaths
    workspace: Path
    docker_config: Path
    state: State

    def context(self) -> LabContext:
        return LabContext(self.paths, self.state, self.workspace, self.docker_config)

    def kernel_env(self, base: dict[str, str]) -> dict[str, str]:
        """What a learner's `labkit lab` kernel has (`_jupyter.environment` with `_lab.env`'s variables),
        pointed at this lab, so a notebook cannot tell that it is graded. LABKIT_HOME and DOCKER_CONFIG
        are always set (the lab's home, and its own Docker config for the notebook's `docker login`):
        a learner's kernel has them when they are set where `labkit lab` runs (see README)."""
        base = {k: v for k, v in base.items() if not k.startswith(("DOCKER_", "LABKIT_"))}
        variables = {
            "DOCKER_HOST": self.state.engine.host, "LABKIT_REGISTRY": self.state.registry.address,
            "LABKIT_USER": self.state.registry.user or _registries.USER, "LABKIT_HOME": str(self.paths.home),
            "DOCKER_CONFIG": str(self.docker_config),
        }
        return _jupyter.environment(variables, self.workspace, base)


def prepare(home: Path, mirror: RegistryState, cache: Path, seeded: Path | Future[Path | None] | None = None) -> GradingLab:
    """A fresh lab in `home`: its own engine (empty, its mirror the class's) and registry, in memory
    where it can be (see `_in_memory`). Its registry starts from a copy of `seeded` (see
    `seeded_registry`) when given, else the base layers are pushed into it (`seed_registry`).

    The engine starts first: it needs no seeded copy. `seeded` may still be in the making (a
    Future): the first lab's engine then starts while the run seeds, and its registry waits."""
    shutil.rmtree(home, ignore_errors=True)
    _in_memory(home)
    paths = LabPaths(home=home, cache=cache)
    workspace, config = home / "workspace", home / "docker-config"
    workspace.mkdir(parents=True)
    config.mkdir()
    state = State(engine=EngineState(), registry=RegistryState(), mirror=RegistryState(port=mirror.port, borrowed=True))
    lab = GradingLab(paths, workspace, config, state)
    try:
        state.engine = _managed_engine.start(paths, f"http://{mirror.address}", EngineState(), throwaway=True)
        state.save(paths)
        if isinstance(seeded, Future):
            seeded = seeded.result()  # cancelled (nothing left to grade): it raises, and the lab goes
        if seeded is not None:
            shutil.copytree(seeded, _registries.data_dir(paths, REGISTRY))
        state.registry, _notes = _registries.ensure(paths, REGISTRY, RegistryState())
        state.save(paths)
        if seeded is None:
            _seed_through_api(paths, state.registry, mirror)
    except BaseException:
        dismantle(lab)  # what was started (and mounted) so far must not outlive a failed start
        raise
    return lab


def seeded_registry(home: Path, mirror: RegistryState, cache: Path) -> Path:
    """A course registry's storage holding the base layers (`seed_registry`), made once for a grading
    run in `home`: each lab's registry starts from a copy of it, a file copy in memory instead of
    the base layers compressed and hashed again per submission. The registry wrote every file itself,
    and was stopped before the copies are made."""
    paths = LabPaths(home=home, cache=cache)
    registry, _notes = _registries.ensure(paths, REGISTRY, RegistryState())
    try:
        _seed_through_api(paths, registry, mirror)
    finally:
        _registries.stop(paths, REGISTRY, registry)
    return _registries.data_dir(paths, REGISTRY)


def _seed_through_api(paths: LabPaths, registry: RegistryState, mirror: RegistryState) -> None:
    with closing(_registries.client(paths, REGISTRY, registry)) as ours, closing(RegistryClient(mirror.address, timeout=60)) as theirs:
        seed_registry(ours, theirs, registry.user)


def seed_registry(registry: RegistryClient, mirror: RegistryClient, user: str) -> int:
    """Put the base images' layers into each repository of the fresh registry that the course pushes
    to, as Docker Hub holds them beside `library/…`: pushing an image built on nginx then sends only
    the image's own layers (the engine finds the base layers already there, as on Docker Hub), not
    the base layers compressed anew per submission. No manifest or tag is made: what the learner
    pushed is all a check can see. Returns how many layers were copied."""
    repos = _catalog.registry_repositories(user)
    layers = _mirror.base_layers(mirror)
    for digest, source in layers.items():
        registry.push_blob(repos[0], digest, mirror.blob(source, digest))
        for repo in repos[1:]:
            registry.mount_blob(repo, digest, repos[0])
    return len(layers)


def stop_leftovers(sub: Submission, lab: GradingLab) -> None:
    """Stop what the notebook left running after its kernel ended (`!cmd &`, `nohup …`): nothing of a
    submission may change its lab once its cells are done, nor outlive its grading."""
    if count := _kill_leftovers(lab):
        sub.events.append(f"the notebook left {count} process(es) running after its last cell: they were stopped")


def _kill_leftovers(lab: GradingLab) -> int:
    """Kill every process started with this lab's environment (the kernel's children); how many."""
    pids = _proc.with_environment("LABKIT_HOME", str(lab.paths.home))
    _proc.kill(pids)
    return len(pids)


def dismantle(lab: GradingLab) -> None:
    _kill_leftovers(lab)  # a submission that failed half way never reached stop_leftovers
    _remove_running_containers(lab)
    _managed_engine.stop(lab.paths)
    _registries.stop(lab.paths, REGISTRY, lab.state.registry)
    _release_memory(lab.paths.home)
    shutil.rmtree(lab.paths.home, ignore_errors=True)


#: The most one grading lab may hold in memory: its images, containers, builds and pushes. A
#: submission that writes more gets "no space left" in its own lab, never the machine's.
MEMORY_LIMIT = "4g"


def _in_memory(home: Path) -> bool:
    """Give a lab's home a tmpfs of its own. A lab used for one submission and thrown away needs no
    disk: pulls and builds run at memory speed, and taking it down frees it at once. False where
    none can be mounted (not root, or no tmpfs): the lab then lives on disk, and works the same."""
    home.mkdir(parents=True, exist_ok=True)
    return _system("mount", "-t", "tmpfs", "-o", f"size={MEMORY_LIMIT},mode=0700", "labkit-grading", str(home))


def _release_memory(home: Path) -> None:
    if str(home) in _managed_engine.mount_points() and not _managed_engine.unmount(home):
        _managed_engine.unmount(home, lazy=True)  # something still holds it open: it goes once let go


def _system(*argv: str) -> bool:
    try:
        return subprocess.run(argv, capture_output=True).returncode == 0
    except OSError:  # no such program here
        return False


def _remove_running_containers(lab: GradingLab) -> None:
    """A running container holds its engine's shutdown up to 10 s (a shell as PID 1 ignores SIGTERM)."""
    if not lab.state.engine.host:
        return
    try:
        with Engine(lab.state.engine.host, timeout=30) as engine:
            for container in engine.containers({"status": "running"}):
                try:
                    engine.remove_container(container["Id"])
                except EngineUnreachable:
                    raise
                except LabkitError as e:  # a live engine that refuses: its stop ends the container anyway
                    log.warning("labkit grade: the lab's engine did not remove container %s: %s", container["Id"][:12], e)
    except EngineUnreachable:
        pass  # an engine that is gone has nothing running; stopping it comes next either way


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60] or "submission"


# --- execute + verify ------------------------------------------------------------------------
CUT = f"\n[output cut at {OUTPUT_CAP} characters by the grader]\n"


class CappedClient(NotebookClient):
    """nbclient with a cap on each cell's output (a cell printing forever must not fill memory), that
    keeps the kernel's reply to each cell: whether it failed, whatever the notebook did to its display."""

    def __init__(self, nb: nbformat.NotebookNode, **kwargs) -> None:
        super().__init__(nb, **kwargs)
        self.reply: dict = {}
        self.on_cell_executed = self._keep_reply

    def _keep_reply(self, cell, cell_index: int, execute_reply: dict) -> None:
        self.reply = execute_reply["content"]

    def run(self, cell, index: int) -> dict:
        """Run one cell; the content of the kernel's execute_reply ({} when none came: an empty cell)."""
        self.reply = {}
        self.execute_cell(cell, index)
        return self.reply

    def output(self, outs, msg, display_id, cell_index):
        if outs and outs[-1].get("text") == CUT:
            return None  # already cut: drop the rest
        added = super().output(outs, msg, display_id, cell_index)
        size = sum(len(json.dumps(o)) for o in outs)
        if size > OUTPUT_CAP:
            last = outs[-1]
            if isinstance(last.get("text"), str):
                last["text"] = last["text"][: max(0, len(last["text"]) - (size - OUTPUT_CAP))]
            outs.append(nbformat.v4.new_output("stream", name="stdout", text=CUT))
        return added


def execute(sub: Submission, lab: GradingLab, env: dict[str, str], cell_timeout: int, notebook_timeout: int) -> None:
    """Run the submission's cells in order; after each checkpoint cell, verify its exercises."""
    nb = sub.notebook
    ctx = lab.context()
    client = CappedClient(
        nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "Timeout", "evalue": f"the cell ran past {cell_timeout} s and was interrupted", "traceback": []},
        resources={"metadata": {"path": str(lab.workspace)}}, record_timing=True,
    )
    deadline = time.monotonic() + notebook_timeout
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if time.monotonic() > deadline:
                    sub.events.append(f"stopped at cell {index}: the notebook ran past {notebook_timeout} s")
                    break
                client.timeout = int(max(1, min(cell_timeout, deadline - time.monotonic())))
                started = time.monotonic()
                reply = client.run(cell, index)
                timed_out = time.monotonic() - started >= client.timeout
                _note_cell(sub, cell, index, reply, timed_out, client.timeout)
                if timed_out and not _responds(client):
                    run_sync(client.km.restart_kernel)(now=True)  # nbclient's kernel manager is async
                    run_sync(client.kc.wait_for_ready)(timeout=60)
                    sub.events.append(f"cell {index} ignored the interrupt: its kernel was restarted (its variables are gone)")
                cell_seconds = time.monotonic() - started
                for exercise, answer in checks_in(cell):
                    if _known(exercise):
                        _verify_into(sub, ctx, exercise, _answer(client, answer, index), cell=index, cell_seconds=cell_seconds)
    except DeadKernelError:
        sub.events.append("the kernel died (the notebook killed or exhausted it): later cells were not run")
    finally:
        ctx.close()


def _responds(client: NotebookClient) -> bool:
    """After an interrupted cell: does the kernel answer a trivial cell, or is it still stuck?"""
    probe = new_code_cell("1")
    saved, client.timeout = client.timeout, STUCK_PROBE_SECONDS
    started = time.monotonic()
    try:
        client.execute_cell(probe, 0, store_history=False)
    finally:
        client.timeout = saved
    return time.monotonic() - started < STUCK_PROBE_SECONDS


def _note_cell(sub: Submission, cell, index: int, reply: dict, timed_out: bool, timeout: int) -> None:
    if timed_out:
        why = ""
        if re.search(r"docker\s+(container\s+)?(run|exec|attach)\b[^\n]*\s-(it|ti|i)\b", cell.source):
            why = ": it opens an interactive container (`docker … -it`), which waits for a keyboard no graded notebook has"
        sub.events.append(f"cell {index} ran past {timeout} s and was interrupted{why}")
    if reply.get("status") == "error" and not (timed_out and reply.get("ename") in ("Timeout", "KeyboardInterrupt")):
        _note_error(sub, cell, index, reply)
    if re.search(r"\bprune\b|rmi\s+-f\s+\$\(docker images", cell.source):
        sub.events.append(f"cell {index} removed images wholesale (only this submission's own engine was touched)")


def _note_error(sub: Submission, cell, index: int, reply: dict) -> None:
    """A cell that failed, as the kernel's reply says (the notebook may have hidden its traceback)."""
    name = reply.get("ename")
    if name == "StdinNotImplementedError":
        sub.events.append(f"cell {index} asked for input(), which a graded notebook cannot give")
        return
    said = f"cell {index} raised {name}: {str(reply.get('evalue', ''))[:120]}"
    sub.events.append(said)
    if not any(output.get("output_type") == "error" for output in cell.outputs):
        cell.outputs.append(nbformat.v4.new_output(
            "stream", name="stderr", text=f"── labkit grade: {said} (its traceback was not shown) ──\n"))


def _answer(client: NotebookClient, expression: str | None, index: int):
    """The value of a check's answer= expression, read from the kernel as JSON (None if it has none)."""
    if not expression:
        return None
    probe = new_code_cell(f"__import__('json').dumps({expression})")
    client.execute_cell(probe, index, store_history=False)
    for output in probe.outputs:
        text = output.get("data", {}).get("text/plain")
        if text:
            try:
                return json.loads(ast.literal_eval(text))
            except (ValueError, SyntaxError):
                return None
    return None


def verify(ctx: LabContext, exercise: str, answer) -> CheckResult:
    return run_check(ctx, exercise, answer, store=None, source="grader")


def _verify_into(sub: Submission, ctx: LabContext, exercise: str, answer, cell: int | None, cell_seconds: float | None) -> None:
    started = time.monotonic()
    sub.results[exercise] = result = verify(ctx, exercise, answer)
    sub.timings[exercise] = {
        "cell": cell, "cell_seconds": None if cell_seconds is None else round(cell_seconds, 3),
        "check_seconds": round(time.monotonic() - started, 3),
    }
    if cell is not None:  # the graded copy shows, under the kernel's own output, what counts
        sub.notebook.cells[cell].outputs.append(
            nbformat.v4.new_output("stream", name="stdout", text=f"{GRADER_SAYS}\n{result_text(result)}\n"))


#: Above the grader's own result in a graded notebook: the kernel's output above it may say otherwise.
GRADER_SAYS = "── labkit grade checked this itself (what the notebook printed above does not count) ──"


def _show_end_checks(sub: Submission, exercises: list[str]) -> None:
    """A last cell in the graded copy with the results of the exercises checked at the end."""
    text = "\n\n".join(result_text(sub.results[e]) for e in exercises)
    cell = nbformat.v4.new_markdown_cell(
        "**Checked by `labkit grade` at the end** (the notebook never checked these: its check cell "
        f"was deleted, edited or never reached):\n\n```text\n{text}\n```")
    if sub.notebook.get("nbformat_minor", 0) < 5:
        del cell["id"]  # cell ids came with format 4.5: an older notebook must stay valid
    sub.notebook.cells.append(cell)


def finish(sub: Submission, lab: GradingLab) -> None:
    """Check, at the end, every exercise the notebook never checked (its check cell deleted, or never reached)."""
    ctx = lab.context()
    at_end = []
    try:
        for exercise in exercises_of(sub.notebook, sub.name):
            if exercise not in sub.results:
                _verify_into(sub, ctx, exercise, None, cell=None, cell_seconds=None)
                sub.events.append(f"{exercise} was never checked in the notebook: checked at the end")
                at_end.append(exercise)
    finally:
        ctx.close()
    if at_end:
        _show_end_checks(sub, at_end)
    errors = [r for r in sub.results.values() if r.status == ERROR]
    if errors:
        sub.problem = f"the lab failed while grading: {errors[0].feedback.splitlines()[0]}"
        sub.infrastructure = True
