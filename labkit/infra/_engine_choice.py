"""Which Docker engine the lab uses.

In order: an explicit one (``--engine`` or ``LABKIT_DOCKER_HOST``); the one this lab
already manages, while it runs; the user's own reachable engine (``DOCKER_HOST`` or
the default socket); otherwise a managed `dockerd` that labkit starts.
"""

from __future__ import annotations

import os

from ..errors import EngineError, EngineUnreachable
from ._engine_api import Engine, EngineInfo
from ._paths import LabPaths
from ._report import Reporter
from ._state import EngineState
from . import _current_engine, _managed_engine

DEFAULT_HOST = "unix:///var/run/docker.sock"


def resolve(
    paths: LabPaths,
    explicit: str | None,
    force_managed: bool,
    mirror_url: str,
    previous: EngineState,
    reporter: Reporter,
    store: str | None = None,
) -> tuple[EngineState, list[str]]:
    """The engine the lab uses, and what the user should know. `store` (containerd or classic) is
    for labkit's own engine: by default containerd's where the engine is current, else classic."""
    explicit = explicit_host(explicit)
    if explicit:
        info = check_explicit(explicit)
        return EngineState(host=explicit, managed=False), _mirror_notes(explicit, mirror_url, info) + _not_ours(store, info)
    managed_host = _managed_engine.layout(paths).host
    if not force_managed and not (previous.managed and _managed_engine.running_pid(paths)):
        user = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        info = _reachable(user) if user != managed_host else None
        if info is not None:
            return EngineState(host=user, managed=False), _mirror_notes(user, mirror_url, info) + _not_ours(store, info)
    running = _managed_engine.current(paths, mirror_url, previous, store=store)
    if running is not None:
        return running, []
    engine, notes = _current_engine.choose(paths.cache, reporter)
    current = engine is not None and engine.current
    chosen = store or ("containerd" if current else "classic")
    if chosen == "containerd" and not current:
        program = engine.dockerd if engine else "dockerd"
        raise EngineError(
            "The containerd image store needs Docker Engine 28 or newer, and none could be had: "
            f"this machine's dockerd is {_current_engine.dockerd_version(program) or 'not installed'}.",
            "run `labkit up --store classic`, or let labkit reach Debian's archive to fetch a current engine.",
        )
    with reporter.step(f"Starting the lab's Docker engine (dockerd {engine.version if engine else 'installed'}, {chosen} image store)"):
        return _managed_engine.start(paths, mirror_url, previous, engine=engine, store=chosen), notes


def _not_ours(store: str | None, info: EngineInfo) -> list[str]:
    if not store:
        return []
    return [f"--store {store} applies to labkit's own engine only: your engine at {info.host} keeps its images "
            f"in its {info.store} store (`labkit up --managed --store {store}` starts labkit's own)."]


def explicit_host(given: str | None) -> str | None:
    return given or os.environ.get("LABKIT_DOCKER_HOST") or None


def check_explicit(host: str) -> EngineInfo:
    """An engine the user named must answer; there is no falling back from it."""
    return _connect(host, "check the address, start that engine, or leave out --engine to let labkit choose one.")


def _connect(host: str, next_step: str) -> EngineInfo:
    try:
        with Engine(host, timeout=10) as engine:
            return engine.info()
    except EngineUnreachable as e:
        raise EngineUnreachable(host, e.reason, next_step) from e


def _reachable(host: str) -> EngineInfo | None:
    try:
        return _connect(host, "")
    except EngineUnreachable:
        return None


def _mirror_notes(host: str, mirror_url: str, info: EngineInfo) -> list[str]:
    mirrors = {m.rstrip("/") for m in info.mirrors}
    if mirror_url.rstrip("/") in mirrors:
        return []
    return [
        f"The engine at {host} does not use the lab's mirror ({mirror_url}): `docker pull nginx` goes to "
        "Docker Hub, which needs internet. For an offline lab run `labkit up --managed` (labkit's own "
        f"engine), or add \"registry-mirrors\": [\"{mirror_url}\"] to that engine's daemon.json."
    ]
