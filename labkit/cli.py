"""`labkit`: the command line, thin over the library.

Each command parses its arguments, calls one library function, prints the result,
and turns a `LabkitError` into its message and exit status 1 (never a traceback);
`check` has exit statuses of its own (`CHECK_EXIT`, `NO_SUCH_EXERCISE`).
"""

from __future__ import annotations

from . import _startup  # noqa: F401  (first: see there)

# isort: split
import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .course import LabContext, ProgressStore, catalog, exercises, release, reset
from .engines import Engine
from .errors import LabkitError, UnknownExercise
from .home import LabPaths, State
from .labs import jupyter, lifecycle
from .machine import Update, Watcher
from .registries import MIRROR, bundles, programs, seeding
from .ui import render

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class ConsoleWatcher(Watcher):
    """Spinners on a terminal; one line per step where output goes to a file or CI log."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Update]:
        start = time.monotonic()
        try:
            if self.console.is_terminal:
                with self.console.status(escape(title)) as spinner:
                    yield lambda text: spinner.update(f"{escape(title)} [dim]{escape(text[:90])}[/]")
            else:
                self.console.print(f"… {escape(title)}")
                yield lambda _text: None
        except BaseException:
            self.console.print(f"[red]✗[/] {escape(title)}")
            raise
        self.console.print(f"[green]✓[/] {escape(title)} [dim]({time.monotonic() - start:.1f} s)[/]")

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]![/] {escape(text)}")


def add_up(commands) -> None:
    p = commands.add_parser("up", help="start the engine, the course registry and the mirror (idempotent)")
    p.add_argument("--engine", metavar="HOST", help="use this Docker engine (unix:///… or tcp://…)")
    p.add_argument("--managed", action="store_true", help="start labkit's own engine even if one is reachable")
    p.add_argument(
        "--store",
        choices=["containerd", "classic"],
        help="labkit's own engine's image store (default: containerd, as Engine 29 and Docker Desktop)",
    )
    p.add_argument(
        "--bundle",
        metavar="FILE",
        help="take the base images and Debian packages from a bundle (`labkit mirror save`): no internet needed",
    )
    p.set_defaults(func=cmd_up)


def cmd_up(args: argparse.Namespace, paths: LabPaths) -> int:
    watcher = ConsoleWatcher(err)
    if args.bundle:
        refs = lifecycle.adopt_bundle(paths, Path(args.bundle).resolve())
        out.print(f"bundle: {', '.join(refs)} and the course's Debian packages, from {escape(args.bundle)}")
    result = lifecycle.up(paths, engine=args.engine, managed=args.managed, watcher=watcher, store=args.store)
    if args.bundle and not result.state.engine.managed:  # your own engine keeps them: its pulls find them there
        lifecycle.load_bundle(paths, Path(args.bundle).resolve(), watcher)
    for note in result.notes:
        watcher.note(note)
    for ref, source in result.seeded.items():
        out.print(f"mirror: {ref} ({source})")
    if not result.started and not result.seeded:
        out.print("The lab is already up: nothing to do.")
    return _print_status(lifecycle.status(paths))


def add_down(commands) -> None:
    p = commands.add_parser("down", help="stop what `labkit up` started, and nothing else")
    p.add_argument(
        "--purge",
        action="store_true",
        help="on your own engine, also remove the registries' containers and their storage (pushed images go)",
    )
    p.set_defaults(func=cmd_down)


def cmd_down(args: argparse.Namespace, paths: LabPaths) -> int:
    stopped = lifecycle.down(paths, purge=args.purge)
    for what in stopped:
        out.print(f"stopped: {what}")
    if not stopped:
        out.print("Nothing of the lab was running.")
    state = State.load(paths)
    if state.engine.host and not state.engine.managed:
        out.print(f"Your own Docker engine at {state.engine.host} was left running.")
    return 0


def add_status(commands) -> None:
    p = commands.add_parser("status", help="show the engine, registry and mirror; exit 1 if any is down")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace, paths: LabPaths) -> int:
    status = lifecycle.status(paths)
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
        return 0 if status.ok else 1
    return _print_status(status)


def _print_status(status: lifecycle.LabStatus) -> int:
    table = Table(title="Docker Images Lab", title_justify="left")
    for column in ("part", "state", "where", "details"):
        table.add_column(column)
    for part in status.parts:
        state = "[green]up[/]" if part.up else "[red]down[/]"
        where = part.details.get("host") or part.details.get("url") or ""
        table.add_row(part.name, state, escape(str(where)), escape(part.summary))
    out.print(table)
    if status.registry.up:
        out.print(f"registry password file: {escape(status.registry.details['password_file'])}")
    if status.engine.details.get("mirror_setting"):
        out.print(
            "to pull the course's images offline, through the lab's mirror: "
            f"{escape(status.engine.details['mirror_setting'])}"
        )
    return 0 if status.ok else 1


def add_env(commands) -> None:
    p = commands.add_parser("env", help='print shell exports: eval "$(labkit env)"')
    p.set_defaults(func=cmd_env)


def cmd_env(args: argparse.Namespace, paths: LabPaths) -> int:
    for name, value in lifecycle.env(paths).items():
        print(f"export {name}={shlex.quote(value)}")
    print("# Run this command to point your shell at the lab:")
    print('# eval "$(labkit env)"')
    return 0


def add_mirror(commands) -> None:
    p = commands.add_parser(
        "mirror",
        help="save or load the base images, the registry image and the course's Debian packages "
        "as one bundle, for a lab offline",
    )
    p.add_argument("action", choices=["save", "load"])
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--wheels",
        action="store_true",
        help="save: add labkit's Python packages from PyPI (for `make lab BUNDLE=FILE` on machines with no PyPI)",
    )
    p.set_defaults(func=cmd_mirror)


def cmd_mirror(args: argparse.Namespace, paths: LabPaths) -> int:
    path = Path(args.file).resolve()
    if args.action == "load":
        refs, where = lifecycle.load_bundle(paths, path, ConsoleWatcher(err))
        out.print(f"Loaded {', '.join(refs)} from {path} into {where}.")
        return 0
    state = State.load(paths)
    if not state.engine.host or not programs.is_up(paths, MIRROR, state.mirror):
        raise LabkitError("The lab is not up.", "run `labkit up` first.")
    with Engine(state.engine.host) as engine:
        refs = seeding.save(
            engine,
            programs.client(paths, MIRROR, state.mirror),
            path,
            ConsoleWatcher(err),
            packages=paths.packages_dir,
            wheels=args.wheels,
        )
    said = bundles.contents(path)
    extra = f", {said.get('packages', 0)} files of Debian packages" + (
        f", {len(said['wheels'])} Python packages" if said.get("wheels") else ""
    )
    out.print(f"Wrote {', '.join(refs)}{extra} to {path} ({path.stat().st_size / 1e6:.0f} MB).")
    return 0


def add_lab(commands) -> None:
    p = commands.add_parser("lab", help="start JupyterLab on your workspace (learner notebooks), pointed at the lab")
    p.add_argument(
        "--workspace",
        default=os.environ.get("LABKIT_WORKSPACE") or "workspace",
        help="where your notebooks and files live (default: ./workspace, or $LABKIT_WORKSPACE)",
    )
    p.add_argument(
        "--notebooks",
        default=str(Path(__file__).resolve().parent.parent / "notebooks"),
        help="the course's source notebooks (default: the course's notebooks/)",
    )
    p.add_argument(
        "--fresh",
        metavar="LESSON",
        help="start LESSON's notebook over (e.g. 04-layers or layers); your copy is kept aside",
    )
    p.add_argument("--port", type=int, help="JupyterLab's port (default: JupyterLab's, 8888 or the next free one)")
    p.add_argument("--ip", default="127.0.0.1", help="the address JupyterLab listens on (default 127.0.0.1)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser; just print the URL")
    p.set_defaults(func=cmd_lab)


def cmd_lab(args: argparse.Namespace, paths: LabPaths) -> int:
    program = jupyter.find_jupyter()
    if not lifecycle.status(paths).ok:
        err.print("The lab is not up: starting it first (`labkit up`).")
        for note in lifecycle.up(paths, watcher=ConsoleWatcher(err)).notes:
            err.print(f"[yellow]![/] {escape(note)}")
    notebooks, workspace = Path(args.notebooks).resolve(), Path(args.workspace).resolve()
    start, renewed = jupyter.START_NOTEBOOK, None
    if args.fresh:
        renewed = release.fresh(notebooks, workspace, args.fresh)
        start = renewed.name
        if renewed.saved:
            err.print(f"Your copy of {renewed.name} was moved aside to {escape(str(renewed.saved))}.")
        err.print(f"{renewed.name} is fresh again (solutions removed) in {escape(str(workspace))}.")
    stocked = release.stock(notebooks, workspace)
    lifecycle.remember_workspace(paths, workspace)
    copied = [item.name for item in stocked if item.copied]
    if copied:
        err.print(f"Copied {len(copied)} learner notebook(s) into {escape(str(workspace))}: {', '.join(copied)}")
    kept = [item.name for item in stocked if not item.copied and item.name != (renewed.name if renewed else None)]
    if kept:
        err.print(
            f"Kept your own {len(kept)} notebook(s) in {escape(str(workspace))} "
            "(`labkit lab --fresh NAME` starts one over)."
        )
    argv = jupyter.command(
        program,
        workspace,
        args.port,
        args.ip,
        args.no_browser,
        start,
        as_root=os.geteuid() == 0,
        settings=jupyter.settings_dir(paths.home),
    )
    err.print(
        f"Starting JupyterLab in {escape(str(workspace))}; open the URL it prints (with its token) to reach {start}."
    )
    err.print("Ctrl-C stops JupyterLab; the engine and registries keep running until `labkit down`.")
    code = jupyter.run(argv, jupyter.environment(lifecycle.env(paths), workspace), workspace)
    err.print("JupyterLab stopped. The lab is still up: `labkit down` stops it.")
    return code


def _context(args: argparse.Namespace) -> LabContext:
    return LabContext.from_env(Path(args.workspace) if args.workspace else None)


#: `labkit check`'s exit statuses: 0 passed, 1 not yet, 2 lab problem, 3 no such exercise.
CHECK_EXIT = {"passed": 0, "failed": 1, "error": 2}
NO_SUCH_EXERCISE = 3


def add_check(commands) -> None:
    p = commands.add_parser(
        "check", help="check one exercise (exit 0 passed, 1 not yet, 2 lab problem, 3 no such exercise)"
    )
    p.add_argument("exercise", metavar="ID", help="an exercise id, like layers.cache")
    p.add_argument("--answer", help="for exercises answered in words: JSON, or a plain word")
    p.add_argument("--workspace", help="the folder the exercises write files to (default: the one `labkit lab` opened)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace, paths: LabPaths) -> int:
    answer = None
    if args.answer is not None:
        try:
            answer = json.loads(args.answer)
        except ValueError:
            answer = args.answer  # a plain word, e.g. --answer b
    try:
        result = exercises.run_check(
            _context(args), args.exercise, answer, ProgressStore.for_paths(paths), source="cli"
        )
    except UnknownExercise as e:
        print(f"labkit: {render.unknown_exercise_text(e.exercise, e.matches)}", file=sys.stderr)
        return NO_SUCH_EXERCISE
    except LabkitError as e:  # the lab is not up, the progress store cannot be used: a lab problem, not "not yet"
        print(f"labkit: {e}", file=sys.stderr)
        return CHECK_EXIT["error"]
    print(render.result_text(result))
    return CHECK_EXIT.get(result.status, CHECK_EXIT["error"])


def add_hint(commands) -> None:
    p = commands.add_parser("hint", help="show the next hint of an exercise")
    p.add_argument("exercise", metavar="ID")
    p.add_argument("--workspace")
    p.set_defaults(func=cmd_hint)


def cmd_hint(args: argparse.Namespace, paths: LabPaths) -> int:
    ctx = _context(args)
    exercise = catalog.get(args.exercise)
    number, text = exercises.next_hint(ctx, exercise, ProgressStore.for_paths(paths))
    print(render.hint_text(exercise.id, number, len(exercise.hints), text))
    return 0


def add_progress(commands) -> None:
    p = commands.add_parser("progress", help="show your progress by lesson and exercise")
    p.set_defaults(func=cmd_progress)


def cmd_progress(args: argparse.Namespace, paths: LabPaths) -> int:
    store = ProgressStore.for_paths(paths)
    rows = store.summary(catalog.EXERCISES, catalog.TITLES)
    print(render.progress_text(rows))
    best = store.best()  # since each lesson's last reset, as the bars above
    table = Table(title="Exercises", title_justify="left")
    for column in ("exercise", "title", "state", "points"):
        table.add_column(column)
    for exercise in catalog.EXERCISES:
        passed, points = best.get(exercise.id, (False, 0.0))
        state = "[green]done[/]" if passed else "[yellow]tried[/]" if exercise.id in best else "not yet"
        table.add_row(exercise.id, escape(exercise.title), state, f"{points:g}/{exercise.points:g}")
    out.print(table)
    return 0


def add_reset(commands) -> None:
    p = commands.add_parser("reset", help="remove what the course created (all lessons, or --lesson L)")
    p.add_argument("--lesson", action="append", metavar="L", help=f"one of: {', '.join(catalog.TITLES)} (repeatable)")
    p.add_argument("--workspace", help="the folder the exercises wrote files to (default: the one `labkit lab` opened)")
    p.set_defaults(func=cmd_reset)


def cmd_reset(args: argparse.Namespace, paths: LabPaths) -> int:
    lessons = args.lesson or None
    for name in lessons or []:
        catalog.lesson(name)  # an unknown lesson stops here, before anything is removed
    done = reset.reset(_context(args), lessons)
    for line in done:
        out.print(escape(line))
    what = ", ".join(lessons) if lessons else "every lesson"
    out.print(
        f"Reset {what}: {len(done)} thing(s) removed or kept."
        if done
        else f"Reset {what}: nothing of the course was there."
    )
    return 0


def add_release(commands) -> None:
    p = commands.add_parser("release", help="write learner copies of notebooks, solutions removed")
    p.add_argument("src", metavar="SRC_DIR")
    p.add_argument("dst", metavar="DST_DIR")
    p.add_argument("--force", action="store_true", help="replace learner notebooks that already exist")
    p.set_defaults(func=cmd_release)


def cmd_release(args: argparse.Namespace, paths: LabPaths) -> int:
    released = release.release(Path(args.src), Path(args.dst), force=args.force)
    for item in released:
        out.print(f"{item.path}: {item.solutions_removed} solution cell(s) replaced")
    return 0


def _interrupted(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _size(text: str) -> int:
    """`2g`, `512m`, `4GiB`, `1073741824`: bytes."""
    number = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}.get(number[-1:], 1)
    try:
        value = float(number[:-1] if scale != 1 else number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write it like 2g, 512m or 4GiB") from None
    if value < 64 * 2**20:
        raise argparse.ArgumentTypeError(f"{text} is too little for a Docker engine: give at least 64m")
    return int(value)


def add_hub(commands) -> None:
    p = commands.add_parser("hub", help="a class on this machine: JupyterHub, a sandboxed lab per learner (root)")
    p.add_argument("--port", type=int, default=8000, help="the port learners open (default 8000)")
    p.add_argument("--ip", default="", help="the address to listen on (default: all of the machine's)")
    p.add_argument("--code", help="the workshop code learners sign in with (or LABKIT_HUB_CODE)")
    p.add_argument("--admin-code", help="the code you sign in with, as `instructor` (or LABKIT_HUB_ADMIN_CODE)")
    p.add_argument(
        "--memory", type=_size, default="1536m", metavar="SIZE", help="memory of one learner's lab (default 1536m)"
    )
    p.add_argument(
        "--pids", type=int, default=1000, metavar="N", help="processes and threads of one learner's lab (default 1000)"
    )
    p.add_argument("--disk", type=_size, default="4g", metavar="SIZE", help="disk of one learner's lab (default 4g)")
    p.add_argument(
        "--keep-free",
        type=_size,
        default="512m",
        metavar="SIZE",
        help="memory the machine keeps: a lab asked for with less available is refused at once (default 512m)",
    )
    p.add_argument(
        "--warm",
        type=int,
        metavar="N",
        help="labs kept made ahead, so a sign-in only makes one the learner's (default: six a core, "
        "within a quarter of the memory available)",
    )
    tls = p.add_argument_group("HTTPS (needed unless the hub listens on loopback only)")
    tls.add_argument("--hostname", default="", help="the name learners open; without --tls-cert, a certificate is made")
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="your certificate (PEM, with its chain)")
    tls.add_argument("--tls-key", type=Path, metavar="FILE", help="its key (PEM, no passphrase)")
    tls.add_argument(
        "--plain-http", action="store_true", help="no HTTPS: codes and PINs cross the network in clear (yours alone)"
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--stop", action="store_true", help="take every learner's lab down and stop the hub (their work is kept)"
    )
    what.add_argument("--status", action="store_true", help="whether the hub runs, since when, its labs, its address")
    what.add_argument(
        "--install-service",
        action="store_true",
        help="run it as a systemd service with these options: it outlives your SSH session and a reboot",
    )
    p.set_defaults(func=cmd_hub)


def cmd_hub(args: argparse.Namespace, paths: LabPaths) -> int:
    from .classroom import hub  # JupyterHub is imported only by this command
    from .sandbox import Limits

    options = hub.HubOptions(
        port=args.port,
        ip=args.ip,
        code=args.code or os.environ.get("LABKIT_HUB_CODE", ""),
        admin_code=args.admin_code or os.environ.get("LABKIT_HUB_ADMIN_CODE", ""),
        limits=Limits(memory=args.memory, pids=args.pids, disk=args.disk),
        keep_free=args.keep_free,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        hostname=args.hostname,
        plain_http=args.plain_http,
        warm=args.warm,
    )
    if args.stop:
        said = hub.stop(options, paths)
        for what in said:
            out.print(f"stopped: {escape(what)}")
        out.print(
            f"Nothing of the hub was running in {options.home}."
            if not said
            else f"The learners' work is kept in {options.home / 'learners'}."
        )
        return 0
    if args.status:
        return _hub_status(hub.status(options), options)
    if args.install_service:
        installed = _install_hub_service(hub, options, paths)
        if installed:
            return 0
    running = hub.start(paths, options, ConsoleWatcher(err))
    now = hub.status(options)
    out.print(
        f"The class hub is up: {now.url} (workshop code {escape(options.code)}; "
        f"you sign in as `instructor` with your admin code)."
    )
    fingerprint = now.fingerprint
    if fingerprint:
        out.print(
            f"Its certificate was made here: learners accept it once, seeing this SHA-256 fingerprint: {fingerprint}"
        )
    out.print("Ctrl-C (or `labkit hub --stop` elsewhere) takes every learner's lab down; their work is kept.")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # systemd's stop: as Ctrl-C
    try:
        ended = running.wait()
    except KeyboardInterrupt:
        for what in hub.stop(options, paths):
            out.print(f"stopped: {escape(what)}")
        return 0
    if ended == 0:  # stopped by `labkit hub --stop` from elsewhere, which took the labs down first
        out.print("The hub was stopped; the learners' work is kept.")
        return 0
    err.print(
        f"JupyterHub ended on its own (exit status {ended}); the learners' labs run on. "
        f"`labkit hub` again takes them back; {options.home / 'jupyterhub.log'} says why it ended."
    )
    return 1


def _hub_status(status, options) -> int:
    from .classroom import _systemd

    service = _systemd.state()
    if status.pid is None:
        out.print(f"No hub runs from {options.home}." + (f" Its service is {service}." if service else ""))
        return 3  # as `systemctl status` says "not running"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.since)) if status.since else "?"
    out.print(f"The hub runs (pid {status.pid}) since {since}: {status.labs} learner lab(s), at {status.url}")
    if status.warm[1]:
        out.print(f"labs made ahead: {status.warm[0]} of {status.warm[1]} ready")
    if status.fingerprint:
        out.print(f"its certificate's SHA-256 fingerprint: {status.fingerprint}")
    if service:
        out.print(f"as the systemd service labkit-hub ({service}): `journalctl -u labkit-hub` has its log")
    return 0


def _install_hub_service(hub, options, paths: LabPaths) -> bool:
    """The hub installed as a systemd service and started (True), or, without systemd, said so (False:
    it runs in the foreground)."""
    from .classroom import _systemd

    if not _systemd.available():
        err.print(
            "This machine does not run systemd, so the hub cannot be a service here: it runs in the "
            "foreground, as without --install-service (start it in tmux or screen to outlive your SSH session)."
        )
        return False
    if os.geteuid() != 0:
        raise LabkitError(
            "`labkit hub --install-service` needs root: it writes the unit into /etc/systemd/system and the "
            "codes into /etc/labkit, and the hub it starts makes a user and a sandbox for each learner.",
            "run it with sudo.",
        )
    if not options.code or not options.admin_code:
        raise LabkitError(
            "A hub needs a workshop code for the learners and an admin code for you.",
            "give both: `labkit hub --install-service --code CODE --admin-code CODE`.",
        )
    hub.certificate(options)  # a missing certificate is said now, not in the journal
    variables = {"LABKIT_HUB_CODE": options.code, "LABKIT_HUB_ADMIN_CODE": options.admin_code}
    variables |= {
        "LABKIT_HOME": str(paths.home),
        "LABKIT_CACHE": str(paths.cache),
        "LABKIT_HUB_HOME": str(options.home),
    }
    variables["PATH"] = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")  # Node.js, npm, the engine's programs
    unit = _systemd.install(hub.unit_argv(options), variables)
    out.print(f"The hub runs as the systemd service labkit-hub ({unit}), and starts again with the machine.")
    out.print("`labkit hub --status` says how it is; `journalctl -u labkit-hub -f` shows its log.")
    return True


def add_singleuser(commands) -> None:
    p = commands.add_parser(
        "singleuser", help="the single-user image's start (Kubernetes): your rootless engine and lab, then COMMAND"
    )
    p.add_argument(
        "command", nargs=argparse.REMAINDER, help="what to run once the lab is up (default jupyterhub-singleuser)"
    )
    p.set_defaults(func=cmd_singleuser)


def cmd_singleuser(args: argparse.Namespace, paths: LabPaths) -> int:
    from .classroom import singleuser

    start = singleuser.prepare(paths, args.command, ConsoleWatcher(err))
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(start.cwd)
    os.execvpe(start.argv[0], start.argv, start.env)  # the server replaces labkit: its signals, its exit


def add_grade(commands) -> None:
    p = commands.add_parser("grade", help="grade submitted notebooks, each in a fresh lab of its own")
    p.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSION",
        help="notebook files, folders of them, or an LMS's zip file of them (each named by its path under the folder)",
    )
    p.add_argument("--out", default="grades", help="where the reports go (default: ./grades)")
    p.add_argument("--jobs", type=int, default=1, help="grade N submissions at once")
    p.add_argument("--timeout-cell", type=int, default=120, metavar="S", help="seconds one cell may run (default 120)")
    p.add_argument(
        "--timeout-notebook", type=int, default=1200, metavar="S", help="seconds one notebook may run (default 1200)"
    )
    p.add_argument("--only-failed", action="store_true", help="grade only what the last run in --out could not grade")
    p.add_argument(
        "--format",
        action="append",
        choices=["gradescope", "canvas", "moodle"],
        help="also write what an LMS imports: Gradescope's results.json files, canvas.csv, moodle/ (repeatable)",
    )
    p.add_argument(
        "--memory",
        type=_size,
        default="2g",
        metavar="SIZE",
        help="memory of one submission's sandbox: kernel, engine, containers, registries (default 2g)",
    )
    p.add_argument(
        "--pids", type=int, default=1000, metavar="N", help="processes and threads of one sandbox (default 1000)"
    )
    p.add_argument("--disk", type=_size, default="4g", metavar="SIZE", help="disk of one sandbox (default 4g)")
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without sandboxes: each submission runs as root on this machine (the report says so)",
    )
    p.set_defaults(func=cmd_grade)


def cmd_grade(args: argparse.Namespace, paths: LabPaths) -> int:
    from . import grading

    items = [Path(p) for p in args.submissions]
    for item in items:
        if not item.is_dir() and not os.path.lexists(item):
            raise LabkitError(f"{item} does not exist.", "name notebook files, folders of them, or an LMS's zip file.")
    entries = grading.find(items, exclude=Path(args.out))
    if not entries:
        raise LabkitError(
            "No notebooks were found in what was given.",
            "name .ipynb files, folders that hold them, or a zip file of them.",
        )
    from .sandbox import Limits

    options = grading.Options(
        out=Path(args.out).resolve(),
        jobs=args.jobs,
        cell_timeout=args.timeout_cell,
        notebook_timeout=args.timeout_notebook,
        formats=tuple(args.format or ()),
        sandbox=not args.no_sandbox,
        limits=Limits(memory=args.memory, pids=args.pids, disk=args.disk),
    )
    if args.only_failed:
        entries = grading.failed_only(entries, options.out)
        if not entries:
            out.print(f"Nothing to grade again: the last run in {escape(str(options.out))} graded every one of these.")
            return 0
    watcher = ConsoleWatcher(err)
    started, notes = grading.class_lab(paths, watcher)
    for note in notes:
        watcher.note(note)
    try:
        run = _grade_with_progress(grading, entries, options, args.only_failed, grading.origins(items))
    finally:
        if started:
            lifecycle.down(paths)
    table = Table(title="Grades", title_justify="left")
    for column in ("submission", "learner", "status", "score", "problem"):
        table.add_column(column)
    for row in run.submissions:
        state = "[green]graded[/]" if row["status"] == "graded" else f"[red]{row['status']}[/]"
        table.add_row(
            escape(row["name"]),
            escape(row.get("learner", "")),
            state,
            f"{row['points']:g}/{row['possible']:g}",
            escape(row["problem"]),
        )
    out.print(table)
    out.print(
        f"Reports: {options.out / 'report.html'}, report.csv, report.json; graded notebooks in {options.out / 'graded'}"
    )
    if run.ungraded:
        out.print(
            f"{len(run.ungraded)} submission(s) could not be graded; after fixing the lab, "
            "`labkit grade … --only-failed` grades just those."
        )
    return 1 if run.ungraded else 0


def _grade_with_progress(grading, entries, options, keep_previous: bool, hide: tuple[Path, ...]):
    from rich.progress import Progress

    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("Grading", total=len(entries))

        def advance(row: dict) -> None:
            bar.advance(task)
            if not err.is_terminal:
                err.print(f"graded {escape(row['name'])}: {row['status']}", markup=True)

        previous = signal.signal(signal.SIGTERM, _interrupted)  # taken down as after Ctrl-C
        try:
            return grading.grade(entries, options, advance, keep_previous=keep_previous, hide=hide)
        finally:
            signal.signal(signal.SIGTERM, previous)


#: The subcommands, in the order `labkit --help` lists them; each `add_X` sits above its `cmd_X`.
SUBCOMMANDS = (
    add_up,
    add_down,
    add_status,
    add_env,
    add_mirror,
    add_check,
    add_hint,
    add_progress,
    add_reset,
    add_release,
    add_grade,
    add_hub,
    add_singleuser,
    add_lab,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Docker Images Lab: set up and run the course.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args, LabPaths.from_env())
        sys.stdout.flush()  # here, not at exit: a reader gone early (`| head -1`) is seen below
        return status
    except LabkitError as e:
        print(f"labkit: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `labkit status --json | head -1`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit must not fail again
        return 141  # as a shell reports a program ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
