"""Which Docker engine the lab uses.

In order: an explicit one (``--engine`` or ``LABKIT_DOCKER_HOST``); the one this lab
already manages, while it runs; the user's own reachable engine (``DOCKER_HOST`` or
the default socket); otherwise a managed `dockerd` that labkit starts.
"""

from __future__ import annotations

import os

from ..errors import EngineUnreachable
from ._engine_api import Engine, EngineInfo
from ._paths import LabPaths
from ._report import Reporter
from ._state import EngineState
from . import _managed_engine

DEFAULT_HOST = "unix:///var/run/docker.sock"


def resolve(
    paths: LabPaths,
    explicit: str | None,
    force_managed: bool,
    mirror_url: str,
    previous: EngineState,
    reporter: Reporter,
) -> tuple[EngineState, list[str]]:
    explicit = explicit_host(explicit)
    if explicit:
        return EngineState(host=explicit, managed=False), _mirror_notes(explicit, mirror_url, check_explicit(explicit))
    managed_host = _managed_engine.layout(paths).host
    if not force_managed and not (previous.managed and _managed_engine.running_pid(paths)):
        user = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        info = _reachable(user) if user != managed_host else None
        if info is not None:
            return EngineState(host=user, managed=False), _mirror_notes(user, mirror_url, info)
    running = _managed_engine.current(paths, mirror_url, previous)
    if running is not None:
        return running, []
    with reporter.step("Starting the lab's Docker engine (dockerd)"):
        return _managed_engine.start(paths, mirror_url, previous), []


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
