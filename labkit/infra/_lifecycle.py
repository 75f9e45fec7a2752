"""The lab as a whole: bring it up, take it down, say how it is."""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import asdict, dataclass, field

from ..errors import EngineUnreachable, LabkitError, StateError
from ._engine_api import Engine
from ._paths import LabPaths
from ._registries import MIRROR, REGISTRY
from ._registry_api import RegistryClient
from ._report import Reporter
from ._state import RegistryState, State, locked
from . import _client, _engine_choice, _managed_engine, _mirror, _registries, _space


@dataclass
class UpResult:
    state: State
    notes: list[str] = field(default_factory=list)
    seeded: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)


def up(
    paths: LabPaths, engine: str | None = None, managed: bool = False, reporter: Reporter | None = None,
    store: str | None = None,
) -> UpResult:
    """Start whatever part of the lab is not running; a no-op when everything is."""
    reporter = reporter or Reporter()
    explicit = _engine_choice.explicit_host(engine)
    if explicit:
        _engine_choice.check_explicit(explicit)
    with locked(paths):
        state = State.load(paths)
        result = UpResult(state)
        moved_from = ""
        for kind in (MIRROR, REGISTRY):
            part = getattr(state, kind.name)
            if _registries.is_up(paths, kind, part):
                continue
            with reporter.step(f"Starting the {kind.title}"):
                new, notes = _registries.ensure(paths, kind, part)
            setattr(state, kind.name, new)
            result.notes += notes
            result.started.append(f"{kind.title} on {new.address}")
            if kind is REGISTRY and part.port and new.port != part.port:
                moved_from = part.address
            state.save(paths)
        mirror_url = f"http://{state.mirror.address}"
        before = (state.engine.host, state.engine.pid)
        state.engine, notes = _engine_choice.resolve(paths, engine, managed, mirror_url, state.engine, reporter, store)
        result.notes += notes
        if (state.engine.host, state.engine.pid) != before and state.engine.managed:
            result.started.append(f"Docker engine (dockerd, pid {state.engine.pid}) on {state.engine.host}")
        state.save(paths)
        _client.offer_plugins(_client.config_dir(paths, state.engine), state.engine)
        mirror = _registries.client(paths, MIRROR, state.mirror)
        with Engine(state.engine.host) as docker:
            result.seeded = _mirror.seed(docker, mirror, paths, reporter)
            if moved_from:
                result.notes += _carry_tags(docker, moved_from, state.registry.address)
        return result


def _carry_tags(docker: Engine, old: str, new: str) -> list[str]:
    """The course registry moved from `old` to `new` (its old port is another program's now): the
    learner's tags that name the old address get the same name at the new one, and they are told
    what still names the dead address."""
    carried = []
    for image in docker.images():
        for ref in image.get("RepoTags") or []:
            if ref.startswith(f"{old}/"):
                docker.tag(ref, new + ref[len(old):])
                carried.append(ref)
    said = [f"The course registry is now {new}, no longer {old}: log in again with `docker login {new}`."]
    if carried:
        said.append(
            f"Your {len(carried)} image name(s) of {old}/… now have the same name at {new}/… "
            f"(e.g. {new + carried[0][len(old):]}); the old names still point at the dead address."
        )
    return said


def down(paths: LabPaths) -> list[str]:
    """Stop what labkit started (its engine, its registries) and nothing else."""
    with locked(paths):
        state = State.load(paths)
        stopped = []
        pid = _managed_engine.running_pid(paths)  # this lab's own dockerd, even if a later `up` chose another engine
        if _managed_engine.stop(paths):
            stopped.append(f"Docker engine (dockerd, pid {pid})")
        state.engine.pid = None
        for kind in (MIRROR, REGISTRY):
            part = getattr(state, kind.name)
            if _registries.stop(paths, kind, part):
                stopped.append(f"{kind.title} on {part.address}")
            part.pid = None
        state.save(paths)
        return stopped


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
    details = {"host": state.engine.host, "managed": state.engine.managed, "version": None, "mirrors": [], "low_space": []}
    if not state.engine.host:
        return PartStatus("engine", False, "not started: run `labkit up`", details)
    try:
        with Engine(state.engine.host, timeout=10) as engine:
            info = engine.info()
    except EngineUnreachable as e:
        return PartStatus("engine", False, f"down ({e.reason}): run `labkit up`", details)
    details.update(version=info.version, api_version=info.api_version, mirrors=list(info.mirrors), store=info.store,
                   builder=_client.builder(paths, state.engine))
    kind = "managed by labkit" if state.engine.managed else "your own engine"
    kind += f", {details['builder']}, {info.store} image store"
    lows = _space.low_space(_space.places(paths, state.engine, info))
    if lows:  # it runs, but builds and pulls will fail: down until there is room
        details["low_space"] = [{"what": low.what, "path": str(low.path), "free": low.free} for low in lows]
        return PartStatus("engine", False, f"Docker {info.version}, {kind}. {_space.problem(lows)}", details)
    return PartStatus("engine", True, f"Docker {info.version}, {kind}", details)


def _registry_status(paths: LabPaths, state: State) -> PartStatus:
    part = state.registry
    details = {
        "url": part.address, "user": part.user or _registries.USER,
        "password_file": str(paths.password_file), "pid": part.pid,
    }
    if not (_answers(part) if part.borrowed else _registries.is_up(paths, REGISTRY, part)):
        return PartStatus("registry", False, "down: run `labkit up`", details)
    return PartStatus("registry", True, f"{part.address}, user {details['user']}", details)


def _answers(part: RegistryState) -> bool:
    """A registry another runs (a grading lab's: the class's mirror, or a sandbox's registries): up when it answers."""
    with closing(RegistryClient(part.address)) as borrowed:
        return borrowed.is_up()


def _mirror_status(paths: LabPaths, state: State) -> PartStatus:
    part = state.mirror
    details = {"url": part.address, "pid": part.pid, "images": []}
    answers = _answers(part) if part.borrowed else _registries.is_up(paths, MIRROR, part)
    if not answers:
        return PartStatus("mirror", False, "down: run `labkit up`", details)
    try:
        images = sorted(_mirror.present(_registries.client(paths, MIRROR, part)))
    except LabkitError as e:
        return PartStatus("mirror", False, f"not answering: {e.message}", details)
    details["images"] = images
    missing = [ref for ref in _mirror.BASE_IMAGES if ref not in images]
    if missing:
        return PartStatus("mirror", False, f"missing {', '.join(missing)}: run `labkit up`", details)
    return PartStatus("mirror", True, f"{part.address}: {', '.join(images)}", details)


def env(paths: LabPaths) -> dict[str, str]:
    """The variables that point a shell at the lab (`eval "$(labkit env)"`)."""
    state = State.load(paths)
    if not state.engine.host or not state.registry.port:
        raise StateError("The lab has not been started yet.", "run `labkit up` first.")
    variables = {
        "DOCKER_HOST": state.engine.host,
        "LABKIT_REGISTRY": state.registry.address,
        "LABKIT_USER": state.registry.user or _registries.USER,
        **_client.variables(paths, state.engine),  # the lab's own docker CLI, with BuildKit, first
    }
    if os.environ.get("LABKIT_HOME"):
        variables["LABKIT_HOME"] = str(paths.home)
    return variables
