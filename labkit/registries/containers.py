"""The lab's two registries as containers on the learner's own engine.

On Docker Desktop, Docker CE or rootless Docker, labkit starts no program on the machine: the
course registry and the mirror are containers of Docker Distribution's image (`registry:2`:
Docker Hub's, or the one a lab bundle carries, built by a lab from Debian's docker-registry),
named ``labkit-<lab>-registry`` and ``-mirror``, published on 127.0.0.1 only, their storage in
named volumes. `labkit down` stops them and `labkit up` starts them again on the same ports (tags
name the registry's address); only `labkit down --purge` removes them and their volumes.
"""

from __future__ import annotations

import time

from ..engines import Engine
from ..errors import EngineError, RegistryStartFailed
from ..home import LabPaths, RegistryState
from ..machine import Watcher, processes
from . import seeding
from ._http import RegistryClient
from .programs import REGISTRY, START_TIMEOUT, USER, RegistryKind, config_text, htpasswd_text

IMAGE = "registry:2"
INSIDE = "5000/tcp"
DATA = "/var/lib/registry"
CONFIG = "/etc/docker/registry/config.yml"
HTPASSWD = "/etc/docker/registry/htpasswd"
#: The label that marks the lab's registry containers; not labkit's check label, which reset clears.
PART_LABEL = "labkit.registry"


def name(paths: LabPaths, kind: RegistryKind) -> str:
    return f"labkit-{paths.key}-{kind.name}"


def volume(paths: LabPaths, kind: RegistryKind) -> str:
    return f"{name(paths, kind)}-data"


def _bound_port(box: dict | None) -> int | None:
    bindings = ((box or {}).get("HostConfig") or {}).get("PortBindings") or {}
    for binding in bindings.get(INSIDE) or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def ensure(
    engine: Engine, paths: LabPaths, kind: RegistryKind, part: RegistryState, watcher: Watcher | None = None
) -> tuple[RegistryState, list[str]]:
    """This registry's container running and answering, on the port it had; a port another program
    took since is replaced by a free one (and said)."""
    box_name, notes = name(paths, kind), []
    box = engine.containers.get(box_name)
    port = _bound_port(box) or part.port
    running = bool(box and (box.get("State") or {}).get("Running"))
    if box is not None and not running and port and not processes.port_is_free(port):
        engine.containers.remove(box_name)  # its port is another program's now: made again on a free one
        box = None
    if box is None:
        if not port or not processes.port_is_free(port):
            new_port = processes.free_port()
            if port:
                notes.append(f"port {port} of the {kind.title} is taken by another program: it moves to {new_port}")
            port = new_port
        seeding.lab_image(engine, paths, watcher or Watcher(), IMAGE)
        files = {CONFIG: config_text(paths, kind, "0.0.0.0:5000", DATA, HTPASSWD).encode()}
        if kind.auth:
            files[HTPASSWD] = htpasswd_text(paths).encode()
        engine.containers.create_service(
            box_name,
            IMAGE,
            ["registry", "serve", CONFIG],
            port,
            INSIDE,
            volume(paths, kind),
            DATA,
            {PART_LABEL: kind.name, "labkit.lab": paths.key},
            files,
        )
    if not running:
        engine.containers.start(box_name)
    address = f"127.0.0.1:{port}"
    failure = processes.wait_ready(RegistryClient(address, timeout=1.0).is_up, None, START_TIMEOUT)
    if failure is not None:
        tail = "\n".join(engine.containers.logs(box_name).splitlines()[-20:])
        raise RegistryStartFailed(f"{kind.title} (container {box_name})", failure, None, tail)
    return RegistryState(port=port, user=USER if kind is REGISTRY else "", container=box_name), notes


def stop(engine: Engine, paths: LabPaths, kind: RegistryKind) -> bool:
    """Stop the container, keep it (and its port and storage) for the next `labkit up`. True if it ran."""
    box = engine.containers.get(name(paths, kind))
    if not box or not (box.get("State") or {}).get("Running"):
        return False
    engine.containers.stop(box["Id"])
    return True


def remove(engine: Engine, paths: LabPaths, kind: RegistryKind) -> list[str]:
    """`labkit down --purge`: the container and its volume go."""
    removed = []
    if engine.containers.get(name(paths, kind)) is not None:
        engine.containers.remove(name(paths, kind))
        removed.append(f"container {name(paths, kind)}")
    for attempt in range(10):  # the engine lets go of a removed container's volume a moment later
        if not any(v.get("Name") == volume(paths, kind) for v in engine.volumes.list()):
            break
        try:
            engine.volumes.remove(volume(paths, kind))
            removed.append(f"volume {volume(paths, kind)}")
            break
        except EngineError:
            if attempt == 9:
                raise
            time.sleep(0.2)
    return removed
