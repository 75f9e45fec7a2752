"""The lab's two Docker Distribution instances, as processes on 127.0.0.1.

- the course registry: htpasswd (bcrypt) auth, one learner account whose generated
  password lives in a 0600 file; the course's stand-in for Docker Hub.
- the mirror: anonymous, holding the base images under ``library/…``; the managed
  engine's ``--registry-mirror``.

Each keeps its port in the lab's state file; a port that something else took since is
replaced by a free one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import bcrypt

from ..errors import MissingProgram, RegistryStartFailed
from ..home import LabPaths, RegistryState, ensure_dir
from ..machine import processes
from . import events
from ._http import RegistryClient

PROGRAM = "docker-registry"
USER = "learner"
#: The password is 144 random bits, so no cost factor makes it easier or harder to guess;
#: the cost is paid by the registry on every authenticated request (a push makes dozens),
#: so it is kept low (what each cost takes: docs/benchmarks.md).
BCRYPT_ROUNDS = 5
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class RegistryKind:
    name: str
    title: str
    auth: bool


REGISTRY = RegistryKind("registry", "course registry", auth=True)
MIRROR = RegistryKind("mirror", "base-image mirror", auth=False)


def config_path(paths: LabPaths, kind: RegistryKind) -> Path:
    return paths.registry_dir(kind.name) / "config.yml"


def log_path(paths: LabPaths, kind: RegistryKind) -> Path:
    return paths.registry_dir(kind.name) / f"{kind.name}.log"


def data_dir(paths: LabPaths, kind: RegistryKind) -> Path:
    """Where the registry keeps its blobs and repositories."""
    return paths.registry_dir(kind.name) / "data"


def password(paths: LabPaths) -> str:
    """The learner's registry password, made once and kept in a 0600 file."""
    path = paths.password_file
    if path.exists():
        return path.read_text().strip()
    ensure_dir(path.parent)
    secret = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def client(paths: LabPaths, kind: RegistryKind, part: RegistryState) -> RegistryClient:
    auth = (USER, password(paths)) if kind.auth else None
    return RegistryClient(part.address, auth=auth)


def is_running(paths: LabPaths, kind: RegistryKind, part: RegistryState) -> bool:
    return processes.is_running(part.pid, PROGRAM, str(config_path(paths, kind)))


def is_up(paths: LabPaths, kind: RegistryKind, part: RegistryState) -> bool:
    """Ours, running and answering (a registry in a container on the learner's engine: answering)."""
    if part.container:
        return bool(part.port) and RegistryClient(part.address).is_up()
    return bool(part.port) and is_running(paths, kind, part) and RegistryClient(part.address).is_up()


def ensure(
    paths: LabPaths, kind: RegistryKind, part: RegistryState, notify: bool = False
) -> tuple[RegistryState, list[str]]:
    """Start this registry unless it already runs; returns its state and notes for the user. `notify`:
    it posts its events for the lab's trackers (the learner's lab's course registry, not a grader's),
    to a listener started beside it (`labkit.registries.events`)."""
    if notify and kind.auth and _ensure_listener(paths) and is_running(paths, kind, part):
        processes.stop(part.pid, PROGRAM, str(config_path(paths, kind)))  # it posts to the listener's new port
    if is_up(paths, kind, part):
        return part, []
    program = shutil.which(PROGRAM)
    if not program:
        raise MissingProgram(PROGRAM, "docker-registry", f"to run the {kind.title}")
    if is_running(paths, kind, part):  # ours, but not answering: start it afresh
        processes.stop(part.pid, PROGRAM, str(config_path(paths, kind)))
    notes: list[str] = []
    port = part.port
    for _attempt in range(3):
        if not port or not processes.port_is_free(port):
            new_port = processes.free_port()
            if port:
                notes.append(f"port {port} of the {kind.title} is taken by another program: it moves to {new_port}")
            port = new_port
        config = _write_config(paths, kind, port, part.readonly, notify=notify and kind.auth)
        proc = processes.spawn([program, "serve", str(config)], log_path(paths, kind))
        address = f"127.0.0.1:{port}"
        failure = processes.wait_ready(RegistryClient(address, timeout=1.0).is_up, proc, START_TIMEOUT)
        if failure is None:
            return RegistryState(port=port, pid=proc.pid, user=USER if kind.auth else "", readonly=part.readonly), notes
        proc.kill()
        proc.wait()
        if processes.port_is_free(port):  # the port was not the problem
            break
    log = log_path(paths, kind)
    raise RegistryStartFailed(kind.title, failure, log, processes.log_tail(log))


def start_at(
    paths: LabPaths,
    kind: RegistryKind,
    port: int,
    wrap: Callable[[list[str]], list[str]] | None = None,
    readonly: bool = False,
) -> RegistryState:
    """Start this registry on `port`, its command line passed through `wrap` (a grading sandbox runs
    it in its network namespace); `readonly` refuses every push (a view of the class's mirror)."""
    program = shutil.which(PROGRAM)
    if not program:
        raise MissingProgram(PROGRAM, "docker-registry", f"to run the {kind.title}")
    config = _write_config(paths, kind, port, readonly)
    argv = [program, "serve", str(config)]
    proc = processes.spawn(wrap(argv) if wrap else argv, log_path(paths, kind))
    failure = processes.wait_ready(RegistryClient(f"127.0.0.1:{port}", timeout=1.0).is_up, proc, START_TIMEOUT)
    if failure is not None:
        proc.kill()
        proc.wait()
        log = log_path(paths, kind)
        raise RegistryStartFailed(kind.title, failure, log, processes.log_tail(log))
    return RegistryState(port=port, pid=proc.pid, user=USER if kind.auth else "")


def reopen(paths: LabPaths, kind: RegistryKind, part: RegistryState, readonly: bool) -> RegistryState:
    """This registry (a program of labkit's) started again on its port, taking pushes or not."""
    stop(paths, kind, part)
    return replace(start_at(paths, kind, part.port, readonly=readonly), readonly=readonly)


def stop(paths: LabPaths, kind: RegistryKind, part: RegistryState) -> bool:
    if kind.auth:
        _stop_listener(paths)
    if not part.pid:
        return False
    return processes.stop(part.pid, PROGRAM, str(config_path(paths, kind)))


def _write_config(paths: LabPaths, kind: RegistryKind, port: int, readonly: bool = False, notify: bool = False) -> Path:
    folder = ensure_dir(paths.registry_dir(kind.name))
    data = ensure_dir(data_dir(paths, kind))
    htpasswd = _write_htpasswd(paths, folder) if kind.auth else None
    config = config_path(paths, kind)
    events = events_url(paths) if notify else ""
    config.write_text(config_text(paths, kind, f"127.0.0.1:{port}", str(data), str(htpasswd or ""), readonly, events))
    return config


#: Where the lab's course registry tells of each manifest pushed or deleted (Distribution's
#: notifications): a listener beside it (`labkit.registries.events`) keeps them in `events_file`,
#: which the trackers watch, so a push no engine event reports still wakes the registry exercises.
EVENTS_BACKOFF = "10s"  # after 3 failed posts (the listener restarting), the registry waits this long


def _events_dir(paths: LabPaths) -> Path:
    """The listener's folder: its port, pid, log, and the events file the trackers watch."""
    return paths.home / "registry-events"


def events_file(paths: LabPaths) -> Path:
    return _events_dir(paths) / "events.jsonl"


def events_port(paths: LabPaths, choose: bool = True) -> int | None:
    """The port the course registry posts its events to: chosen once per lab home, kept in it (None:
    none chosen yet, and `choose` is False)."""
    kept = _events_dir(paths) / "port"
    try:
        return int(kept.read_text())
    except (OSError, ValueError):
        if not choose:
            return None
        ensure_dir(kept.parent)
        port = processes.free_port()
        kept.write_text(f"{port}\n")
        return port


def events_url(paths: LabPaths) -> str:
    return f"http://127.0.0.1:{events_port(paths)}{events.PATH}"


def _listener_pid(paths: LabPaths) -> int | None:
    try:
        return int((_events_dir(paths) / "listener.pid").read_text())
    except (OSError, ValueError):
        return None


def _listener_runs(paths: LabPaths) -> bool:
    return processes.is_running(_listener_pid(paths), os.path.basename(sys.executable), str(events_file(paths)))


def _ensure_listener(paths: LabPaths) -> bool:
    """The events listener running on its port; True when the port had to move (something else took it)."""
    if _listener_runs(paths):
        return False
    port, moved = events_port(paths), False
    if not processes.port_is_free(port):
        port, moved = processes.free_port(), True
        (_events_dir(paths) / "port").write_text(f"{port}\n")
    argv = [sys.executable, "-m", "labkit.registries.events", str(port), str(events_file(paths))]
    proc = processes.spawn(argv, _events_dir(paths) / "listener.log")
    (_events_dir(paths) / "listener.pid").write_text(f"{proc.pid}\n")
    failure = processes.wait_ready(lambda: not processes.port_is_free(port), proc, START_TIMEOUT)
    if failure is not None:  # the registry's events are a convenience: the engine's still wake the checks
        proc.kill()
        proc.wait()
    return moved


def _stop_listener(paths: LabPaths) -> None:
    processes.stop(_listener_pid(paths) or 0, os.path.basename(sys.executable), str(events_file(paths)))  # if ours


def config_text(
    paths: LabPaths,
    kind: RegistryKind,
    addr: str,
    data: str,
    htpasswd: str,
    readonly: bool = False,
    events: str = "",
) -> str:
    """Distribution's configuration: where it listens and keeps its data, the login for the course
    registry, and where it posts its events (`events`: a URL, "" for nowhere)."""
    folder = ensure_dir(paths.registry_dir(kind.name))
    secret_file = folder / "http-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(16))
        os.chmod(secret_file, 0o600)
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {json.dumps(data)}",
        "  delete:",
        "    enabled: true",
        *(["  maintenance:", "    readonly:", "      enabled: true"] if readonly else []),
        "http:",
        f"  addr: {addr}",
        f"  secret: {secret_file.read_text().strip()}",
    ]
    if kind.auth:
        lines += ["auth:", "  htpasswd:", "    realm: labkit", f"    path: {json.dumps(htpasswd)}"]
    if events:  # manifests only: a layer's upload is no news to a check
        lines += [
            "notifications:",
            "  endpoints:",
            "    - name: labkit",
            f"      url: {json.dumps(events)}",
            "      timeout: 2s",
            "      threshold: 3",
            f"      backoff: {EVENTS_BACKOFF}",
            "      ignoredmediatypes:",
            "        - application/octet-stream",
        ]
    return "\n".join(lines) + "\n"


def htpasswd_text(paths: LabPaths) -> str:
    """The registry's account file's content (made when missing)."""
    return _write_htpasswd(paths, ensure_dir(paths.registry_dir(REGISTRY.name))).read_text()


def _write_htpasswd(paths: LabPaths, folder: Path) -> Path:
    """The registry's account file: the learner, with a bcrypt hash of the password file's password."""
    htpasswd = folder / "htpasswd"
    secret = password(paths).encode()
    if htpasswd.exists():
        user, _, hashed = htpasswd.read_text().strip().partition(":")
        current_cost = hashed.split("$")[2] if hashed.count("$") >= 3 else ""
        if user == USER and current_cost == f"{BCRYPT_ROUNDS:02d}" and bcrypt.checkpw(secret, hashed.encode()):
            return htpasswd
    hashed = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    tmp = htpasswd.with_suffix(".tmp")
    tmp.write_text(f"{USER}:{hashed}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, htpasswd)
    return htpasswd
