"""Which Docker engine the lab uses.

In order: an explicit one (``--engine`` or ``LABKIT_DOCKER_HOST``); the one this lab
already manages, while it runs; the user's own reachable engine (``DOCKER_HOST`` or
the default socket); otherwise a managed `dockerd` that labkit starts.
"""

from __future__ import annotations

import os

from . import _dockerd
from ._docker import Engine
from ._errors import EngineUnreachable
from ._paths import LabPaths
from ._report import Reporter
from ._state import EngineState

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
        check_explicit(explicit)
        return EngineState(host=explicit, managed=False), _mirror_notes(explicit, mirror_url)
    managed_host = _dockerd.layout(paths).host
    if not force_managed and not (previous.managed and _dockerd.running_pid(paths)):
        user = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        if user != managed_host and _reachable(user):
            return EngineState(host=user, managed=False), _mirror_notes(user, mirror_url)
    if _dockerd.is_current(paths, mirror_url):
        return _dockerd.start(paths, mirror_url, previous), []
    with reporter.step("Starting the lab's Docker engine (dockerd)"):
        return _dockerd.start(paths, mirror_url, previous), []


def explicit_host(given: str | None) -> str | None:
    return given or os.environ.get("LABKIT_DOCKER_HOST") or None


def check_explicit(host: str) -> None:
    """An engine the user named must answer; there is no falling back from it."""
    _connect(host, "check the address, start that engine, or leave out --engine to let labkit choose one.")


def _connect(host: str, next_step: str) -> None:
    try:
        with Engine(host, timeout=10) as engine:
            engine.info()
    except EngineUnreachable as e:
        raise EngineUnreachable(host, e.reason, next_step) from e


def _reachable(host: str) -> bool:
    try:
        _connect(host, "")
    except EngineUnreachable:
        return False
    return True


def _mirror_notes(host: str, mirror_url: str) -> list[str]:
    with Engine(host, timeout=10) as engine:
        mirrors = {m.rstrip("/") for m in engine.info().mirrors}
    if mirror_url.rstrip("/") in mirrors:
        return []
    return [
        f"The engine at {host} does not use the lab's mirror ({mirror_url}): `docker pull nginx` goes to "
        "Docker Hub, which needs internet. For an offline lab run `labkit up --managed` (labkit's own "
        f"engine), or add \"registry-mirrors\": [\"{mirror_url}\"] to that engine's daemon.json."
    ]
