"""A fresh lab of one's own, made and taken down: for a graded submission (`prepare`, `dismantle`),
with its registry's base layers seeded once per run (`seeded_registry`); and what a hub learner's
lab runs from (`sandbox_engine`, `exposed`).

A lab is a sandbox (`labkit.sandbox`: a throwaway user, its rootless engine and registries, limits,
nothing of the class in sight), or unsandboxed (`labkit grade --no-sandbox`) a fresh managed engine
and registry run as root beside the class's mirror, in memory.

`repositories(user)` names the repositories of the course registry that the course pushes to (the
course's catalog says which); their base layers are seeded there.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import sandbox
from ..engines import Engine, docker_cli, dockerd, fetched
from ..errors import EngineUnreachable, LabkitError
from ..home import EngineState, LabPaths, RegistryState, State, packages_store
from ..machine import processes
from ..registries import REGISTRY, RegistryClient, package_source, programs, seeding
from . import jupyter

log = logging.getLogger(__name__)

Repositories = Callable[[str], list[str]]


@dataclass(frozen=True)
class Sandboxing:
    """How a run's labs are sandboxed: their limits, the class's mirror storage their view serves, what
    of the machine they must not see, and the run's pid (in every sandbox's name)."""

    limits: sandbox.Limits
    mirror_data: Path
    hide: tuple[Path, ...]
    run: int


@dataclass
class FreshLab:
    """A lab of one submission's own: a sandbox, or (unsandboxed) a fresh managed engine and registry
    beside the class's mirror."""

    paths: LabPaths
    workspace: Path
    docker_config: Path
    state: State
    sandbox: sandbox.Sandbox | None = None

    @property
    def kernel_home(self) -> Path:
        """The kernel's LABKIT_HOME (a sandbox's is the user's copy; the grader reads its own)."""
        return self.sandbox.kernel_home if self.sandbox else self.paths.home

    @property
    def engine_log(self) -> Path:
        """Where the lab's engine logs (a report quotes its end when the lab failed while grading)."""
        return self.sandbox.root / "lab" / "engine.log" if self.sandbox else self.paths.engine_dir / "dockerd.log"

    def configure_kernel(self, km, env: dict[str, str]) -> None:
        """The kernel talks to the grader over files of the lab's home (ZeroMQ's ipc transport: a
        sandbox's network is its engine's, and no port is shared between workers); in a sandbox it runs
        as its user inside it (`Sandbox.command`)."""
        sb = self.sandbox
        if sb is None:  # ipc too: two workers' kernels could pick one free TCP port, and one die at its start
            km.transport, km.ip = "ipc", str(self.paths.home / ".kernel")
            return
        km.transport, km.ip = "ipc", str(sb.home / ".kernel")
        km.connection_file = str(sb.home / ".kernel.json")
        km.write_connection_file()
        os.chown(km.connection_file, sb.uid, sb.gid)
        # -P: the working folder is never on Python's path (a notebook's own `labkit` folder imports nothing)
        km.kernel_spec.argv = sb.command(
            [sys.executable, "-P", "-m", "ipykernel_launcher", "-f", "{connection_file}"], env, cwd=self.workspace
        )

    def kernel_env(self, base: dict[str, str]) -> dict[str, str]:
        if self.sandbox is not None:
            return self._sandboxed_env()
        """What a learner's `labkit lab` kernel has (`jupyter.environment` with `labs.lifecycle.env`'s variables),
        pointed at this lab, so a notebook cannot tell that it is graded. LABKIT_HOME and DOCKER_CONFIG
        are always set (the lab's home, and its own Docker config for the notebook's `docker login`):
        a learner's kernel has them when they are set where `labkit lab` runs (see README)."""
        base = {k: v for k, v in base.items() if not k.startswith(("DOCKER_", "LABKIT_"))}
        variables = {
            "DOCKER_HOST": self.state.engine.host,
            "LABKIT_REGISTRY": self.state.registry.address,
            "LABKIT_USER": self.state.registry.user or programs.USER,
            "LABKIT_HOME": str(self.paths.home),
            "DOCKER_CONFIG": str(self.docker_config),
        }
        # the engine's own docker CLI first (or an older engine's legacy `docker build`), as a learner's kernel has it
        cli = docker_cli.variables(self.paths, self.state.engine, base.get("PATH"))
        variables.update({k: v for k, v in cli.items() if k != "DOCKER_CONFIG"})
        return jupyter.environment(variables, self.workspace, base)

    def _sandboxed_env(self) -> dict[str, str]:
        """A sandbox's kernel: what a learner's kernel has, and nothing of the grader's environment."""
        sb = self.sandbox
        variables = {**sb.lab_variables(), "JPY_PARENT_PID": str(os.getpid())}
        return jupyter.environment(variables, self.workspace, sb.base_env())


def prepare(
    home: Path,
    mirror: RegistryState,
    cache: Path,
    repositories: Repositories,
    seeded: Path | Future[Path | None] | None = None,
    sandboxing: Sandboxing | None = None,
) -> FreshLab:
    """A fresh lab in `home`: its own engine (empty, its mirror the class's) and registry, in memory
    where it can be (see `_in_memory`). Its registry starts from a copy of `seeded` (see
    `seeded_registry`) when given, else the base layers are pushed into it (`seed_registry`).

    The engine starts first: it needs no seeded copy. `seeded` may still be in the making (a
    Future): the first lab's engine then starts while the run seeds, and its registry waits.
    With `sandboxing`, the lab is a sandbox (`home`'s name names it)."""
    if sandboxing is not None:
        return _prepare_sandbox(home.name.replace("-", "n"), mirror, cache, repositories, seeded, sandboxing)
    shutil.rmtree(home, ignore_errors=True)
    _in_memory(home)
    paths = LabPaths(home=home, cache=cache)
    workspace, config = home / "workspace", home / "docker-config"
    workspace.mkdir(parents=True)
    config.mkdir()
    state = State(engine=EngineState(), registry=RegistryState(), mirror=RegistryState(port=mirror.port, borrowed=True))
    lab = FreshLab(paths, workspace, config, state)
    try:
        engine = fetched.at_hand(cache)  # the class lab's: today's (fetched by `labkit up`), or LABKIT_DOCKERD's
        store = "containerd" if engine and engine.current else "classic"
        state.engine = dockerd.start(
            paths, f"http://{mirror.address}", EngineState(), throwaway=True, engine=engine, store=store
        )
        state.save(paths)
        docker_cli.offer_plugins(config, state.engine)
        if isinstance(seeded, Future):
            seeded = seeded.result()  # cancelled (nothing left to grade): it raises, and the lab goes
        if seeded is not None:
            shutil.copytree(seeded, programs.data_dir(paths, REGISTRY))
        state.registry, _notes = programs.ensure(paths, REGISTRY, RegistryState())
        state.save(paths)
        if seeded is None:
            _seed_through_api(paths, state.registry, mirror, repositories)
    except BaseException:
        dismantle(lab)  # what was started (and mounted) so far must not outlive a failed start
        raise
    return lab


def _prepare_sandbox(
    suffix: str, mirror: RegistryState, cache: Path, repositories: Repositories, seeded, sandboxing: Sandboxing
) -> FreshLab:
    engine = sandbox_engine(cache)
    if isinstance(seeded, Future):
        seeded = seeded.result()
    spec = sandbox.Spec(
        name=f"{sandbox.PREFIX}-{sandboxing.run}-{suffix}",
        limits=sandboxing.limits,
        engine=engine,
        mirror_data=sandboxing.mirror_data,
        hide=sandboxing.hide,
        expose=exposed(engine),
        store="containerd" if engine.current else "classic",
        seeded=seeded,
        # A submission reaches the lab's own sources only, the course's Debian packages among them;
        # where the class's store has none (a lab offline without a bundle), the sandbox keeps its way
        # to Debian's archive, as lessons 04, 06 and 10 need it (`class_lab` says so).
        packages=packages_store(cache),
        offline=course_packages_held(cache),
    )
    sb = sandbox.make(spec)
    lab = FreshLab(sb.paths, sb.workspace, sb.docker_config, sb.state, sandbox=sb)
    try:
        sb.offer_plugins()
        if seeded is None:
            _seed_through_api(sb.paths, sb.state.registry, mirror, repositories)
    except BaseException:
        dismantle(lab)
        raise
    return lab


def course_packages_held(cache: Path) -> bool:
    """Whether the class's Debian package store holds what the course's containers install."""
    return package_source.holds_course(packages_store(cache))


def sandbox_engine(cache: Path) -> fetched.FetchedEngine | None:
    """The engine sandboxes run rootless: the class lab's (today's, or LABKIT_DOCKERD's), else the installed one."""
    engine = fetched.at_hand(cache)
    if engine is None and (program := shutil.which("dockerd")):
        engine = fetched.FetchedEngine(fetched.dockerd_version(program))
    return engine


def exposed(engine: fetched.FetchedEngine | None) -> tuple[Path, ...]:
    """What a sandbox's kernel and engine run from, which its view of the machine shows read-only: this
    Python (its environment and installation), labkit's package (only the package: a checkout's
    notebooks hold the solutions), and the engine's programs."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[1]]  # labkit/
    tree = sandbox.engine_tree(engine) if engine else Path("/")
    return tuple(paths + ([tree] if tree != Path("/") else []))


def seeded_registry(home: Path, mirror: RegistryState, cache: Path, repositories: Repositories) -> Path:
    """A course registry's storage holding the base layers (`seed_registry`), made once for a grading
    run in `home`: each lab's registry starts from a copy of it, a file copy in memory instead of
    the base layers compressed and hashed again per submission. The registry wrote every file itself,
    and was stopped before the copies are made."""
    paths = LabPaths(home=home, cache=cache)
    registry, _notes = programs.ensure(paths, REGISTRY, RegistryState())
    try:
        _seed_through_api(paths, registry, mirror, repositories)
    finally:
        programs.stop(paths, REGISTRY, registry)
    return programs.data_dir(paths, REGISTRY)


def _seed_through_api(
    paths: LabPaths, registry: RegistryState, mirror: RegistryState, repositories: Repositories
) -> None:
    with (
        closing(programs.client(paths, REGISTRY, registry)) as ours,
        closing(RegistryClient(mirror.address, timeout=60)) as theirs,
    ):
        seed_registry(ours, theirs, repositories(registry.user))


def seed_registry(registry: RegistryClient, mirror: RegistryClient, repos: list[str]) -> int:
    """Put the base images' layers into each repository of the fresh registry that the course pushes
    to, as Docker Hub holds them beside `library/…`: pushing an image built on nginx then sends only
    the image's own layers (the engine finds the base layers already there, as on Docker Hub), not
    the base layers compressed anew per submission. No manifest or tag is made: what the learner
    pushed is all a check can see. Returns how many layers were copied."""
    layers = seeding.base_layers(mirror)
    for digest, source in layers.items():
        registry.push_blob(repos[0], digest, mirror.blob(source, digest))
        for repo in repos[1:]:
            registry.mount_blob(repo, digest, repos[0])
    return len(layers)


def kill_leftovers(lab: FreshLab) -> int:
    """Kill every process started with this lab's environment (the kernel's children); how many."""
    pids = processes.with_environment("LABKIT_HOME", str(lab.kernel_home))
    processes.kill(pids)
    return len(pids)


def dismantle(lab: FreshLab) -> None:
    if lab.sandbox is not None:
        sandbox.take_down(lab.sandbox)  # every process of it at once, through its cgroup
        return
    kill_leftovers(lab)  # a submission that failed half way never had its leftovers stopped
    _remove_running_containers(lab)
    dockerd.stop(lab.paths)
    programs.stop(lab.paths, REGISTRY, lab.state.registry)
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
    if str(home) in dockerd.mount_points() and not dockerd.unmount(home):
        dockerd.unmount(home, lazy=True)  # something still holds it open: it goes once let go


def _system(*argv: str) -> bool:
    try:
        return subprocess.run(argv, capture_output=True).returncode == 0
    except OSError:  # no such program here
        return False


def _remove_running_containers(lab: FreshLab) -> None:
    """A running container holds its engine's shutdown up to 10 s (a shell as PID 1 ignores SIGTERM)."""
    if not lab.state.engine.host:
        return
    try:
        with Engine(lab.state.engine.host, timeout=30) as engine:
            for container in engine.containers.list({"status": "running"}):
                try:
                    engine.containers.remove(container["Id"])
                except EngineUnreachable:
                    raise
                except LabkitError as e:  # a live engine that refuses: its stop ends the container anyway
                    log.warning(
                        "labkit grade: the lab's engine did not remove container %s: %s", container["Id"][:12], e
                    )
    except EngineUnreachable:
        pass  # an engine that is gone has nothing running; stopping it comes next either way
