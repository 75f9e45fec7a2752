"""The lab as a whole: bring it up, take it down, say how it is."""

from __future__ import annotations

import os
import shutil
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..engines import Engine, EngineInfo, choice, docker_cli, dockerd
from ..errors import EngineUnreachable, LabkitError, StateError
from ..home import EngineState, LabPaths, PackagesState, RegistryState, State, locked
from ..machine import Watcher, processes
from ..registries import MIRROR, REGISTRY, RegistryClient, bundles, containers, package_source, programs, seeding
from . import space


@dataclass
class UpResult:
    state: State
    notes: list[str] = field(default_factory=list)
    seeded: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)


def up(
    paths: LabPaths,
    engine: str | None = None,
    managed: bool = False,
    watcher: Watcher | None = None,
    store: str | None = None,
) -> UpResult:
    """Start whatever part of the lab is not running; a no-op when everything is."""
    watcher = watcher or Watcher()
    explicit = choice.explicit_host(engine)
    if explicit:
        choice.check_explicit(explicit)
    with locked(paths):
        state = State.load(paths)
        users = choice.users_engine(paths, engine, managed, state.engine)
        if users is not None:
            return _up_on(users, paths, state, watcher, store)
        result = UpResult(state)
        moved_from = _start_registries(
            paths, state, result, watcher, lambda kind, part: programs.ensure(paths, kind, part, notify=True)
        )
        mirror_url = f"http://{state.mirror.address}"
        before = (state.engine.host, state.engine.pid)
        state.engine, notes = choice.resolve(paths, mirror_url, state.engine, watcher, store)
        result.notes += notes
        if (state.engine.host, state.engine.pid) != before:
            result.started.append(f"Docker engine (dockerd, pid {state.engine.pid}) on {state.engine.host}")
        state.save(paths)
        docker_cli.offer_plugins(docker_cli.config_dir(paths, state.engine), state.engine)
        mirror = programs.client(paths, MIRROR, state.mirror)
        with Engine(state.engine.host) as docker:
            if not state.mirror.readonly:  # a hub serves a class: it seeded the mirror before closing it
                result.seeded = seeding.seed(docker, mirror, paths, watcher)
            if moved_from:
                result.notes += _carry_tags(docker, moved_from, state.registry.address)
            result.notes += _serve_packages(paths, state, docker, watcher, result)
        return result


def _serve_packages(paths: LabPaths, state: State, docker: Engine, watcher: Watcher, result: UpResult) -> list[str]:
    """The lab's Debian package source (`registries.package_source`) on its engine's bridge, named in the lab's client
    configuration, and filled once (online) with what the course's containers install."""
    gateway = docker.bridge_gateway()
    if not gateway:
        return []
    part = state.packages
    if not (
        part.address == gateway and package_source.is_running(part.pid) and package_source.answers(gateway, part.port)
    ):
        package_source.stop(part.pid)
        port = part.port if part.port and processes.port_is_free(part.port) else processes.free_port()
        with watcher.step("Starting the lab's Debian package source"):
            proc = package_source.start(paths.packages_dir, gateway, port, paths.home / "packages.log")
        state.packages = PackagesState(address=gateway, port=port, pid=proc.pid)
        state.save(paths)
        result.started.append(f"Debian package source on {state.packages.address}:{port}")
    docker_cli.offer_packages(docker_cli.config_dir(paths, state.engine), state.packages.url)
    if package_source.holds_course(paths.packages_dir):
        return []
    base = "debian:bookworm-slim"
    with watcher.step(
        f"Keeping the Debian packages the course installs ({', '.join(package_source.COURSE_PACKAGES)}), once"
    ):
        with seeding.no_images_left(docker), seeding.borrowed_names(docker, [base]):
            docker.registry.pull(base)
            filled, said = package_source.fill(docker, state.packages.url, base)
    if filled:
        return []
    return [
        f"The lab holds no Debian packages for the course's containers (lessons 04, 06 and 10 install "
        f"{', '.join(package_source.COURSE_PACKAGES)}), and Debian's archive did not give them ({said}): "
        "with internet, "
        "`labkit up` keeps them; offline, load a bundle made where it did (`labkit mirror load FILE`)."
    ]


def mirror_takes_pushes(paths: LabPaths, takes: bool) -> None:
    """The lab's mirror (a program of labkit's) started again taking pushes, or refusing them. `labkit
    hub` closes it while it serves learners, whose kernels share this machine's loopback: one could
    otherwise push its own image under a base image's name, and every lab would pull it."""
    if not paths.state_file.exists():
        return  # no lab here
    with locked(paths):
        state = State.load(paths)
        part = state.mirror
        if part.container or part.readonly == (not takes):
            return
        running = part.port and programs.is_running(paths, MIRROR, part)
        state.mirror = (
            programs.reopen(paths, MIRROR, part, readonly=not takes) if running else replace(part, readonly=not takes)
        )
        state.save(paths)


def remember_workspace(paths: LabPaths, workspace) -> None:
    """`labkit lab` opened `workspace`: `labkit check`, `hint` and `reset` from any shell read it."""
    with locked(paths):
        state = State.load(paths)
        state.workspace = str(workspace)
        state.save(paths)


def registries_as_programs() -> bool:
    """On the user's own engine, root with Docker Distribution installed runs the registries as programs
    beside it, as for labkit's own engine (a grading run reads the class mirror's storage from disk);
    anyone else runs them as containers on that engine."""
    return os.geteuid() == 0 and shutil.which(programs.PROGRAM) is not None


def _up_on(info: EngineInfo, paths: LabPaths, state: State, watcher: Watcher, store: str | None) -> UpResult:
    """The lab on the user's own engine: the registries as containers on it (nothing started on the
    machine), or, for root with docker-registry, as programs beside it."""
    result = UpResult(state, notes=choice.not_ours(store, info))
    state.engine = EngineState(host=info.host, managed=False)
    state.save(paths)
    with Engine(info.host) as docker:
        if registries_as_programs():
            moved_from = _start_registries(
                paths, state, result, watcher, lambda kind, part: programs.ensure(paths, kind, part, notify=True)
            )
        else:
            moved_from = _start_registries(
                paths,
                state,
                result,
                watcher,
                lambda kind, part: containers.ensure(docker, paths, kind, part, watcher),
                where=" (a container on your engine)",
            )
        mirror_url = f"http://{state.mirror.address}"
        hub = choice.uses_mirror(info, mirror_url) or seeding.hub_reachable()
        result.notes += choice.mirror_notes(info.host, mirror_url, info, hub)
        docker_cli.offer_plugins(docker_cli.config_dir(paths, state.engine), state.engine)
        mirror = programs.client(paths, MIRROR, state.mirror)
        result.seeded = seeding.seed(docker, mirror, paths, watcher, own_engine=True)
        if moved_from:
            result.notes += _carry_tags(docker, moved_from, state.registry.address)
    return result


def _start_registries(paths: LabPaths, state: State, result: UpResult, watcher: Watcher, start, where: str = "") -> str:
    """Start the mirror and the course registry where they are down (`start(kind, part)`); returns the
    course registry's old address when it had to move (its port is another program's now), else ""."""
    moved_from = ""
    for kind in (MIRROR, REGISTRY):
        part = getattr(state, kind.name)
        if programs.is_up(paths, kind, part):
            continue
        with watcher.step(f"Starting the {kind.title}{where}"):
            new, notes = start(kind, part)
        setattr(state, kind.name, new)
        result.notes += notes
        result.started.append(f"{kind.title} on {new.address}")
        if kind is REGISTRY and part.port and new.port != part.port:
            moved_from = part.address
        state.save(paths)
    return moved_from


def _carry_tags(docker: Engine, old: str, new: str) -> list[str]:
    """The course registry moved from `old` to `new` (its old port is another program's now): the
    learner's tags that name the old address get the same name at the new one, and they are told
    what still names the dead address."""
    carried = []
    for image in docker.images.list():
        for ref in image.get("RepoTags") or []:
            if ref.startswith(f"{old}/"):
                docker.images.tag(ref, new + ref[len(old) :])
                carried.append(ref)
    said = [f"The course registry is now {new}, no longer {old}: log in again with `docker login {new}`."]
    if carried:
        said.append(
            f"Your {len(carried)} image name(s) of {old}/… now have the same name at {new}/… "
            f"(e.g. {new + carried[0][len(old) :]}); the old names still point at the dead address."
        )
    return said


def down(paths: LabPaths, purge: bool = False) -> list[str]:
    """Stop what labkit started (its engine, its registries) and nothing else. The registries'
    containers on the learner's engine are stopped and kept; `purge` removes them and their storage."""
    with locked(paths):
        state = State.load(paths)
        stopped = []
        pid = dockerd.running_pid(paths)  # this lab's own dockerd, even if a later `up` chose another engine
        boxed = [kind for kind in (MIRROR, REGISTRY) if getattr(state, kind.name).container]
        if boxed and state.engine.host and not state.engine.managed:
            stopped += _down_containers(paths, state.engine.host, boxed, purge)
        if dockerd.stop(paths):
            stopped.append(f"Docker engine (dockerd, pid {pid})")
        if package_source.stop(state.packages.pid):
            stopped.append(f"Debian package source on {state.packages.address}:{state.packages.port}")
        state.packages.pid = None
        state.engine.pid = None
        for kind in (MIRROR, REGISTRY):
            part = getattr(state, kind.name)
            if not part.container and programs.stop(paths, kind, part):
                stopped.append(f"{kind.title} on {part.address}")
            part.pid = None
            if purge and part.container:
                setattr(state, kind.name, RegistryState(port=part.port, user=part.user))
        state.save(paths)
        return stopped


def _down_containers(paths: LabPaths, host: str, kinds: list, purge: bool) -> list[str]:
    try:
        with Engine(host, timeout=30) as docker:
            said = []
            for kind in kinds:
                part = containers.name(paths, kind)
                if containers.stop(docker, paths, kind):
                    said.append(f"{kind.title} (container {part}, kept for `labkit up`)")
                if purge:
                    said += [f"{kind.title}'s {what} (removed)" for what in containers.remove(docker, paths, kind)]
            return said
    except EngineUnreachable as e:
        return [
            f"nothing on {host}: the engine is not reachable ({e.reason}), "
            "so the registries' containers are not running"
        ]


def adopt_bundle(paths: LabPaths, path: Path) -> list[str]:
    """`labkit up --bundle FILE`, before the lab comes up: the bundle's Debian packages into the lab's
    store, and the bundle as the lab's cached base images, which seeding the mirror takes first (so a
    machine with no internet builds nothing and fetches nothing). The images it holds."""
    refs = bundles.names(path)
    bundles.unpack(path, bundles.PACKAGES, paths.packages_dir)
    cached = seeding.bundle_path(paths)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(cached.name + ".partial")
    shutil.copyfile(path, partial)
    os.replace(partial, cached)
    return refs


def load_bundle(paths: LabPaths, path, watcher: Watcher) -> tuple[list[str], str]:
    """`labkit mirror load FILE`: the bundle's images into the mirror when it is up, and, on the learner's
    own engine, into that engine to stay (before the first `labkit up` too: it brings the registry image).
    Returns (the images, where they went, in words)."""
    bundles.names(path)  # a bad bundle is said before any engine is looked for
    state = State.load(paths)
    mirror_up = bool(state.engine.host) and programs.is_up(paths, MIRROR, state.mirror)
    if mirror_up and state.mirror.readonly:
        raise LabkitError(
            "The mirror takes no images while `labkit hub` serves a class from this machine (a learner's "
            "notebook could otherwise put its own image under a base image's name).",
            "stop the hub (`labkit hub --stop`), load the bundle, then start the hub again.",
        )
    bundles.unpack(path, bundles.PACKAGES, paths.packages_dir)  # what the course's containers install
    if state.engine.host and (mirror_up or not state.engine.managed):
        host, own = state.engine.host, not state.engine.managed
    else:
        info = choice.users_engine(paths, None, False, state.engine)
        if info is None:
            raise LabkitError(
                "The lab is not up, and no Docker engine of yours is reachable to load the bundle into.",
                "run `labkit up` first, then load the bundle.",
            )
        host, own = info.host, True
    with Engine(host) as docker:
        mirror = programs.client(paths, MIRROR, state.mirror) if mirror_up else None
        refs = seeding.load(docker, mirror, path, watcher, keep=own)
    places = [place for place, held in (("the mirror", mirror is not None), (f"your engine at {host}", own)) if held]
    later = "" if mirror else " (`labkit up` puts them into the mirror)"
    return refs, " and ".join(places) + later


@dataclass
class PartStatus:
    name: str
    up: bool
    summary: str
    details: dict


@dataclass
class LabStatus:
    engine: PartStatus
    registry: PartStatus
    mirror: PartStatus

    @property
    def parts(self) -> list[PartStatus]:
        return [self.engine, self.registry, self.mirror]

    @property
    def ok(self) -> bool:
        return all(part.up for part in self.parts)

    def to_dict(self) -> dict:
        return {"ok": self.ok, **{part.name: asdict(part) for part in self.parts}}


def status(paths: LabPaths) -> LabStatus:
    state = State.load(paths)
    return LabStatus(_engine_status(paths, state), _registry_status(paths, state), _mirror_status(paths, state))


def _engine_status(paths: LabPaths, state: State) -> PartStatus:
    details = {
        "host": state.engine.host,
        "managed": state.engine.managed,
        "version": None,
        "mirrors": [],
        "low_space": [],
    }
    if not state.engine.host:
        return PartStatus("engine", False, "not started: run `labkit up`", details)
    try:
        with Engine(state.engine.host, timeout=10) as engine:
            info = engine.info()
    except EngineUnreachable as e:
        return PartStatus("engine", False, f"down ({e.reason}): run `labkit up`", details)
    details.update(
        version=info.version,
        api_version=info.api_version,
        mirrors=list(info.mirrors),
        store=info.store,
        builder=docker_cli.builder(paths, state.engine),
    )
    kind = "managed by labkit" if state.engine.managed else "your own engine" + (" (rootless)" if info.rootless else "")
    kind += f", {details['builder']}, {info.store} image store"
    if state.mirror.port:
        mirror_url = f"http://{state.mirror.address}"
        details["uses_mirror"] = choice.uses_mirror(info, mirror_url)
        if not details["uses_mirror"]:
            details["mirror_setting"] = choice.mirror_setting(info, mirror_url)
            kind += ", pulls from Docker Hub (not the lab's mirror)"
    lows = space.low_space(space.places(paths, state.engine, info))
    if lows:  # it runs, but builds and pulls will fail: down until there is room
        details["low_space"] = [{"what": low.what, "path": str(low.path), "free": low.free} for low in lows]
        return PartStatus("engine", False, f"Docker {info.version}, {kind}. {space.problem(lows)}", details)
    return PartStatus("engine", True, f"Docker {info.version}, {kind}", details)


def _registry_status(paths: LabPaths, state: State) -> PartStatus:
    part = state.registry
    details = {
        "url": part.address,
        "user": part.user or programs.USER,
        "password_file": str(paths.password_file),
        "pid": part.pid,
    }
    if not (_answers(part) if part.borrowed else programs.is_up(paths, REGISTRY, part)):
        return PartStatus("registry", False, "down: run `labkit up`", details)
    return PartStatus("registry", True, f"{part.address}, user {details['user']}", details)


def _answers(part: RegistryState) -> bool:
    """A registry another runs (a grading lab's: the class's mirror, or a sandbox's registries): up when it answers."""
    with closing(RegistryClient(part.address)) as borrowed:
        return borrowed.is_up()


def _mirror_status(paths: LabPaths, state: State) -> PartStatus:
    part = state.mirror
    details = {"url": part.address, "pid": part.pid, "images": [], "readonly": part.readonly}
    answers = _answers(part) if part.borrowed else programs.is_up(paths, MIRROR, part)
    if not answers:
        return PartStatus("mirror", False, "down: run `labkit up`", details)
    try:
        images = sorted(seeding.present(programs.client(paths, MIRROR, part)))
    except LabkitError as e:
        return PartStatus("mirror", False, f"not answering: {e.message}", details)
    details["images"] = images
    missing = [ref for ref in seeding.BASE_IMAGES if ref not in images]
    if missing:
        return PartStatus("mirror", False, f"missing {', '.join(missing)}: run `labkit up`", details)
    closed = " (takes no pushes while `labkit hub` runs)" if part.readonly else ""
    return PartStatus("mirror", True, f"{part.address}: {', '.join(images)}{closed}", details)


def env(paths: LabPaths) -> dict[str, str]:
    """The variables that point a shell at the lab (`eval "$(labkit env)"`)."""
    state = State.load(paths)
    if not state.engine.host or not state.registry.port:
        raise StateError("The lab has not been started yet.", "run `labkit up` first.")
    variables = {
        "DOCKER_HOST": state.engine.host,
        "LABKIT_REGISTRY": state.registry.address,
        "LABKIT_USER": state.registry.user or programs.USER,
        **docker_cli.variables(paths, state.engine),  # the lab's own docker CLI first (or an older engine's buildx)
    }
    if os.environ.get("LABKIT_HOME"):
        variables["LABKIT_HOME"] = str(paths.home)
    return variables
