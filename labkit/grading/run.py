"""A grading run: a class's submissions, each through the pipeline (`pipeline.grade_one`) in a fresh
lab of its own, in parallel with `--jobs N`, on the lab the run stands on (`class_lab`); then the
reports (`report.write_all`).

Each submission is copied (the submissions folder is read once, never written) and graded in a
sandbox of its own (`labkit.sandbox`): a throwaway unprivileged user whose kernel, rootless engine
and registries run inside memory, process and disk limits, where nothing of the class (other
submissions, the reports, the class's lab) can be seen and nothing outside it written. So no
submission sees another's images or files, one that removes every image touches nothing else,
and `--jobs N` can grade N at once. Each worker (the main process with `--jobs 1`) makes its labs
one ahead and takes them down in the background (`supply.LabSupply`), so starting and removing
them costs a submission no time. `--no-sandbox` grades as root in a managed engine per
submission, and every row of the report says so.
"""

from __future__ import annotations

from .. import _startup  # noqa: F401  (first: a grading worker imports this module before anything else)

# isort: split
import json
import logging
import os
import shutil
import signal
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Callable

from .. import sandbox
from ..errors import LabkitError, LabNotUp, SandboxUnavailable
from ..home import LabPaths, RegistryState, State
from ..labs import fresh, lifecycle
from ..machine import Watcher
from ..registries import programs
from ..sandbox import Limits
from . import labs, report
from .job import Submission
from .pipeline import grade_one
from .score import row_of
from .submissions import Entry
from .supply import LabSupply

log = logging.getLogger(__name__)


@dataclass
class Options:
    out: Path
    jobs: int = 1
    cell_timeout: int = 120
    notebook_timeout: int = 1200
    formats: tuple[str, ...] = ()
    sandbox: bool = True  # False: --no-sandbox (submissions run as root, and the report says so)
    limits: Limits = field(default_factory=Limits)


@dataclass
class GradeRun:
    submissions: list[dict] = field(default_factory=list)  # one row each, as report.json holds them

    @property
    def ungraded(self) -> list[dict]:
        return [s for s in self.submissions if s["status"] != "graded"]


def class_lab(paths: LabPaths, watcher: Watcher) -> tuple[bool, list[str]]:
    """The lab a grading run stands on (its mirror serves every sandbox's engine, from its storage on
    this machine): the one at `paths` when it is up, else brought up here. (whether it was brought up
    from nothing here, so that the run takes it down again at its end; what to tell the teacher).

    `sudo labkit grade` reads root's lab home, not the teacher's: a teacher's own lab (on their
    Docker, its registries as containers) cannot serve a sandbox anyway, so root's is started."""
    state = State.load(paths)
    up = state.mirror.port and not state.mirror.container and programs.is_up(paths, programs.MIRROR, state.mirror)
    if up and (not state.engine.managed or fresh.course_packages_held(paths.cache)):
        return False, []
    nothing_up = not any(part.up for part in lifecycle.status(paths).parts)
    notes = []
    if own := _sudo_users_lab(paths):
        notes.append(
            f"Your own lab ({own}) runs its registries on your Docker engine, where a grading sandbox cannot "
            f"read them: this run uses a lab of root's own in {paths.home}."
        )
    result = lifecycle.up(paths, watcher=watcher)  # also keeps the course's Debian packages, once
    notes += result.notes
    if result.state.mirror.container or not programs.data_dir(paths, programs.MIRROR).is_dir():
        raise LabkitError(
            "The lab's mirror runs as a container, whose storage a grading sandbox cannot read.",
            f"install Docker Distribution (`apt-get install {programs.PROGRAM}`), then run `labkit grade` again.",
        )
    if not fresh.course_packages_held(paths.cache):
        notes.append(
            "The lab holds no Debian packages for the course's containers, so the sandboxes keep their way to "
            "Debian's archive (lessons 04, 06 and 10 install curl and markdown): load a bundle "
            "(`labkit mirror load FILE`) to grade with no internet."
        )
    if nothing_up:
        notes.append(f"No lab was up in {paths.home}: this run started one, and stops it when it is done.")
    return nothing_up, notes


def _sudo_users_lab(paths: LabPaths) -> Path | None:
    """The lab home of the user who ran `sudo labkit …`, when it is another than `paths`' and holds a lab."""
    import pwd

    user = os.environ.get("SUDO_USER")
    if os.geteuid() != 0 or not user or os.environ.get("LABKIT_HOME"):
        return None
    try:
        theirs = Path(pwd.getpwnam(user).pw_dir) / ".local" / "share" / "labkit"
    except KeyError:
        return None
    return theirs if theirs != paths.home and (theirs / "state.json").exists() else None


def failed_only(entries: list[Entry], out: Path) -> list[Entry]:
    """Those of `entries` that the last run in `out` did not grade (or never saw), by name."""
    previous = _previous(out)
    return [e for e in entries if previous.get(e.name, {}).get("status") != "graded"]


def grade(
    entries: list[Entry],
    options: Options,
    progress: Callable[[dict], None] | None = None,
    keep_previous: bool = False,
    hide: tuple[Path, ...] = (),
) -> GradeRun:
    """Grade `entries` (see `find`); with `keep_previous`, the reports also keep the last run's rows of
    other submissions. `hide`: the folders the submissions came from, which no sandbox may see."""
    paths = LabPaths.from_env()
    state = State.load(paths)
    if not state.mirror.port:
        raise LabNotUp()
    previous = _previous(options.out) if keep_previous else {}
    if options.sandbox:
        sandbox.clean_leftovers()  # of a run that was killed
        if lacks := sandbox.missing(fresh.sandbox_engine(paths.cache)):
            raise SandboxUnavailable(lacks)
    _make_out(options.out)
    with ExitStack() as later:  # what is entered last is undone first: the labs, then their folder
        work = Path(
            tempfile.mkdtemp(prefix="labkit-")
        )  # short: labs live here while they grade (a notebook sees its path)
        later.callback(shutil.rmtree, work, ignore_errors=True)
        if options.sandbox:  # after the labs' own take-down: whatever an interruption left of this run's
            later.callback(sandbox.clean_leftovers, os.getpid())
        copies, refused = _copy_in(entries, work / "submissions")
        rows = [
            row_of(Submission(path=Path(e.source), name=e.name, problem=e.problem, **_who(e)), options.out)
            for e in refused
        ]
        for row in rows:
            progress and progress(row)
        sandboxing = None
        if options.sandbox:
            sandboxing = labs.Sandboxing(
                options.limits,
                programs.data_dir(paths, programs.MIRROR),
                (*hide, options.out, paths.home, work),
                os.getpid(),
            )
        rows += _grade_all(
            copies, options, work, RegistryState(port=state.mirror.port), paths.cache, later, progress, sandboxing
        )
        # The last labs are still being taken down (by `later`) while the reports are written.
        merged = {**previous, **{row["name"]: row for row in rows}}
        run = GradeRun(sorted(merged.values(), key=lambda r: r["name"]))
        report.write_all(run.submissions, options.out, options.formats)
    return run


def _who(entry: Entry) -> dict:
    """What names a submission in its row (see Submission)."""
    return {"learner": entry.learner, "learner_id": entry.learner_id, "lms": entry.lms, "key": entry.key}


def _make_out(out: Path) -> None:
    """The reports' folder: made by the grader, only its owner may enter a new one (a sandbox's user
    can neither write nor read it, and inside a sandbox it is hidden besides)."""
    if not out.exists():
        out.mkdir(parents=True, mode=0o700)


def _copy_in(entries: list[Entry], folder: Path) -> tuple[dict[Path, Entry], list[Entry]]:
    """Each submission copied once into `folder` (only the grader's): ({the copy: its entry}, the
    entries refused, each with its problem). What the teacher gave is read here, once, and never
    written."""
    folder.mkdir(mode=0o700)
    copies, refused = {}, []
    for i, entry in enumerate(entries):
        copy = folder / f"{i}.ipynb"
        if not entry.problem:
            entry.problem = entry.copy_to(copy)
        if entry.problem:
            refused.append(entry)
        else:
            copies[copy] = entry
    return copies, refused


def _grade_all(
    copies: dict[Path, Entry],
    options: Options,
    work: Path,
    mirror: RegistryState,
    cache: Path,
    later: ExitStack,
    progress: Callable[[dict], None] | None,
    sandboxing: labs.Sandboxing | None = None,
) -> list[dict]:
    """A row per file, in the order they finish. Taking the labs down is left to `later`."""
    limits = (str(options.out), options.cell_timeout, options.notebook_timeout)
    files = list(copies)
    rows: list[dict] = []
    if options.jobs <= 1:
        seeded: Future[Path | None] = Future()
        supply = LabSupply(work, mirror, cache, seeded, sandboxing)
        later.callback(supply.close)
        if files:
            supply.start_first()  # its engine starts while ...
        _seed(seeded, work, mirror, cache)  # ... the base layers are seeded here
        for i, path in enumerate(files):
            rows.append(grade_one(str(path), supply, i + 1 < len(files), *limits, who=_named(copies[path])))
            progress and progress(rows[-1])
        return rows
    workers = max(1, min(options.jobs, len(files)))
    pool = later.enter_context(
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_start_worker,
            initargs=(str(work), mirror.port, str(cache), limits, sandboxing),
        )
    )
    for _ in range(workers):  # the workers start (each a Python importing the grader, then its first
        pool.submit(_started)  # lab's engine) while ...
    seeded = _seeded_registry(work, mirror, cache)  # ... the base layers are seeded here
    # Those that look longest first, so that no long one is left to run alone at the end; a
    # worker makes its next lab ahead when more submissions are left than workers.
    ordered = sorted(files, key=_expected_work, reverse=True)
    futures = [
        pool.submit(_grade_task, str(path), i + workers < len(ordered), seeded and str(seeded), _named(copies[path]))
        for i, path in enumerate(ordered)
    ]
    try:
        for future in as_completed(futures):
            rows.append(future.result())
            progress and progress(rows[-1])
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): no submission more, and the workers stop now
        for future in futures:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):  # the executor has no public way
            process.terminate()
        raise
    return rows


def _named(entry: Entry) -> dict:
    """An entry's names, as a worker process gets them."""
    return {"source": entry.source, "name": entry.name, **_who(entry)}


def _expected_work(path: Path) -> int:
    """How much a submission will likely run, to start the longest first: the length of its code."""
    try:
        cells = json.loads(path.read_text()).get("cells", [])
        return sum(
            len("".join(c.get("source", ""))) for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"
        )
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, TypeError):
        return 0  # unreadable: validation says why, in no time


def _seeded_registry(work: Path, mirror: RegistryState, cache: Path) -> Path | None:
    """The registry storage every lab of this run starts from; None when it cannot be made (each lab
    then seeds its own registry, and a lab that cannot reports that on its submission)."""
    try:
        return labs.seeded_registry(work / "seeded", mirror, cache)
    except (LabkitError, OSError) as e:
        log.warning(
            "labkit grade: the base layers could not be seeded once for the run, so each lab seeds "
            "its own (slower): %s",
            e,
        )
        return None


def _seed(promise: Future[Path | None], work: Path, mirror: RegistryState, cache: Path) -> None:
    """Make the seeded registry and give it to the labs waiting for it in `promise`."""
    try:
        promise.set_result(_seeded_registry(work, mirror, cache))
    except BaseException as e:  # interrupted: a lab waiting for it must fail, not wait forever
        promise.set_exception(e)
        raise


# --- a worker process of `--jobs N`: its own supply of labs, taken down when the pool ends ---
_worker: dict = {}


def _start_worker(
    work: str, mirror_port: int, cache: str, limits: tuple[str, int, int], sandboxing: labs.Sandboxing | None = None
) -> None:
    _die_with_parent()
    _worker.update(
        work=Path(work), mirror=RegistryState(port=mirror_port), cache=Path(cache), limits=limits, sandboxing=sandboxing
    )


def _die_with_parent() -> None:
    """A worker killed with the run (SIGKILL gives the run no time to stop it): left alone, it would
    go on grading, and making sandboxes, for a run that is gone, while the next run takes down what
    that run left (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _supply() -> LabSupply:
    """This worker's supply of labs, made at its first task. The seeded registry is not known yet:
    its first lab's engine starts, and its registry waits for the first submission to say where."""
    if "supply" not in _worker:
        seeded: Future[Path | None] = Future()
        supply = LabSupply(_worker["work"], _worker["mirror"], _worker["cache"], seeded, _worker["sandboxing"])
        Finalize(supply, supply.close, exitpriority=10)  # runs as the worker exits, before the pool's join returns
        supply.start_first()
        _worker.update(supply=supply, seeded=seeded)
    return _worker["supply"]


def _started() -> None:
    """A task that only makes the pool start a worker, and the worker its first lab."""
    _supply()


def _grade_task(path: str, more: bool, seeded: str | None, who: dict) -> dict:
    supply = _supply()
    if not _worker["seeded"].done():
        _worker["seeded"].set_result(seeded and Path(seeded))
    return grade_one(path, supply, more, *_worker["limits"], who=who)


def _previous(out: Path) -> dict:
    """The last run's rows by name: none when there was no run; a report that cannot be read is said,
    never taken to mean "grade them all again"."""
    path = out / "report.json"
    try:
        rows = json.loads(path.read_text())["submissions"]
        return {row["name"]: row for row in rows}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LabkitError(
            f"The last run's report {path} cannot be read ({type(e).__name__}: {e}).",
            "move it aside and grade without --only-failed, or give another --out.",
        ) from e
