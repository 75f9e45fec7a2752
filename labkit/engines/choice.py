"""Which Docker engine the lab uses.

In order: an explicit one (``--engine`` or ``LABKIT_DOCKER_HOST``); the one this lab
already manages, while it runs; the user's own reachable engine (``DOCKER_HOST``, the current
docker context, the default socket, rootless Docker's); otherwise, as root only, a managed
`dockerd` that labkit starts. Also what to tell a user whose engine does not pull through the
lab's mirror.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import EngineError, EngineUnreachable, NoEngine
from ..home import EngineState, LabPaths
from ..machine import Watcher
from . import dockerd, fetched
from ._sdk import Engine, EngineInfo

DEFAULT_HOST = "unix:///var/run/docker.sock"


def users_engine(
    paths: LabPaths, explicit: str | None, force_managed: bool, previous: EngineState
) -> EngineInfo | None:
    """The user's own engine when the lab is to run on one: the one named, else the first that
    answers of DOCKER_HOST, the current docker context, the default socket and rootless Docker's.
    None where labkit is to start its own. Not root and nothing answers: `NoEngine`, with why."""
    explicit = explicit_host(explicit)
    if explicit:
        return check_explicit(explicit)
    if force_managed or (previous.managed and dockerd.running_pid(paths)):
        if force_managed and os.geteuid() != 0:
            raise EngineError(
                "`labkit up --managed` starts an engine of labkit's own, which needs root (dockerd "
                "sets up networks and mounts).",
                "run it with sudo, or leave out --managed to use your own engine.",
            )
        return None
    managed_host = dockerd.layout(paths).host
    tried = []
    for host in candidates():
        if host == managed_host:
            continue
        try:
            return _connect(host, "")
        except EngineUnreachable as e:
            tried.append((host, e.reason))
    if os.geteuid() != 0:
        raise NoEngine(tried, os.environ.get("DOCKER_HOST", ""))
    return None


def candidates() -> list[str]:
    """Where the user's engine may listen, as the docker CLI looks: DOCKER_HOST; else the current
    docker context's; else the default socket, then rootless Docker's in the user's runtime folder."""
    if os.environ.get("DOCKER_HOST"):
        return [os.environ["DOCKER_HOST"]]
    context = _context_host()
    if context:
        return [context]
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    rootless = f"unix://{runtime}/docker.sock"
    return [DEFAULT_HOST] + ([rootless] if os.getuid() != 0 else [])


def _context_host() -> str:
    """The current docker context's engine address (`docker context use`), or "" for the default."""
    config_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    name = os.environ.get("DOCKER_CONTEXT", "")
    if not name:
        try:
            name = json.loads((config_dir / "config.json").read_text()).get("currentContext") or ""
        except (OSError, ValueError, AttributeError):
            return ""
    if not name or name == "default":
        return ""
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    try:
        return json.loads(meta.read_text())["Endpoints"]["docker"]["Host"] or ""
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def resolve(
    paths: LabPaths,
    mirror_url: str,
    previous: EngineState,
    watcher: Watcher,
    store: str | None = None,
) -> tuple[EngineState, list[str]]:
    """labkit's own engine, running (started when it is not). `store` (containerd or classic):
    by default containerd's where the engine is current, else classic."""
    running = dockerd.current(paths, mirror_url, previous, store=store)
    if running is not None:
        return running, []
    engine, notes = fetched.choose(paths.cache, watcher)
    current = engine is not None and engine.current
    chosen = store or ("containerd" if current else "classic")
    if chosen == "containerd" and not current:
        program = engine.dockerd if engine else "dockerd"
        raise EngineError(
            "The containerd image store needs Docker Engine 28 or newer, and none could be had: "
            f"this machine's dockerd is {fetched.dockerd_version(program) or 'not installed'}.",
            "run `labkit up --store classic`, or let labkit reach Debian's archive to fetch a current engine.",
        )
    driver, said = dockerd.prepare_data_root(paths, chosen)
    with watcher.step(
        f"Starting the lab's Docker engine (dockerd {engine.version if engine else 'installed'}, {chosen} image store)"
    ):
        return dockerd.start(paths, mirror_url, previous, engine=engine, store=chosen, driver=driver), notes + said


def not_ours(store: str | None, info: EngineInfo) -> list[str]:
    if not store:
        return []
    return [
        f"--store {store} applies to labkit's own engine only: your engine at {info.host} keeps its images "
        f"in its {info.store} store (`labkit up --managed --store {store}` starts labkit's own)."
    ]


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


def uses_mirror(info: EngineInfo, mirror_url: str) -> bool:
    return mirror_url.rstrip("/") in {m.rstrip("/") for m in info.mirrors}


def mirror_setting(info: EngineInfo, mirror_url: str) -> str:
    """The exact setting that makes this engine pull the course's images from the lab's mirror, and where it goes."""
    setting = f'"registry-mirrors": ["{mirror_url}"]'
    if info.desktop:
        return f"in Docker Desktop, Settings → Docker Engine, add {setting} to the JSON, then Apply & restart"
    if info.rootless:
        return f"add {setting} to ~/.config/docker/daemon.json, then `systemctl --user restart docker`"
    return f"add {setting} to /etc/docker/daemon.json (as root), then `sudo systemctl restart docker`"


def mirror_notes(host: str, mirror_url: str, info: EngineInfo, hub: bool) -> list[str]:
    """What the user should know when their engine does not pull from the lab's mirror."""
    if uses_mirror(info, mirror_url):
        return []
    if hub:
        return [
            f"The engine at {host} pulls the course's images (busybox, debian, nginx) from Docker Hub, not from the "
            f"lab's mirror {mirror_url}: fine while you are online. "
            f"For offline work, {mirror_setting(info, mirror_url)}."
        ]
    return [
        f"The engine at {host} pulls from Docker Hub, which is not reachable, and not from the lab's mirror "
        f"({mirror_url}): `docker pull nginx` will fail. {mirror_setting(info, mirror_url)[0].upper()}"
        f"{mirror_setting(info, mirror_url)[1:]}; images loaded from a bundle (`labkit mirror load FILE`) need no pull."
    ]
