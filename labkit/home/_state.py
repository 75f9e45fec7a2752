"""The lab's state file: what `labkit up` started, where, and on which ports.

One JSON file in the lab home, written atomically and only under the lab lock, so
that `labkit up` in two shells at once cannot pick two ports for one registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

from ..errors import StateError
from ._paths import LabPaths


@dataclass
class EngineState:
    host: str = ""
    managed: bool = False
    pid: int | None = None
    bridge: str = ""
    subnet: str = ""
    store: str = ""  # a managed engine's image store: "containerd" or "classic"
    version: str = ""  # a managed engine's dockerd, when it is a current one fetched or found by labkit
    programs: str = ""  # the folder that engine was unpacked in ("" for an installed dockerd)
    #: A buildx plugin folder offered to an installed engine older than 23 (LABKIT_DOCKERD's), whose own CLI had
    #: none: `docker buildx` works, and `docker build` stays that engine's legacy builder (DOCKER_BUILDKIT=0).
    plugins: str = ""


@dataclass
class RegistryState:
    port: int | None = None
    pid: int | None = None
    user: str = ""
    container: str = ""  # the container it runs in, on the learner's own engine ("": a process of labkit's)
    # another runs it (the class's mirror for a grading lab; a sandbox's registries for its kernel): up when it answers
    borrowed: bool = False
    readonly: bool = False  # takes no pushes: the class's mirror while `labkit hub` serves learners from this machine

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}" if self.port else ""


@dataclass
class PackagesState:
    """The lab's Debian package source (`registries.package_source`): where containers reach it, and its process."""

    address: str = ""  # the engine's bridge gateway: where its containers reach this machine
    port: int | None = None
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}" if self.address and self.port else ""


@dataclass
class State:
    engine: EngineState = field(default_factory=EngineState)
    registry: RegistryState = field(default_factory=RegistryState)
    mirror: RegistryState = field(default_factory=RegistryState)
    workspace: str = ""  # the folder `labkit lab` last opened: where `labkit check` reads the learner's files
    packages: PackagesState = field(default_factory=PackagesState)

    @classmethod
    def load(cls, paths: LabPaths) -> "State":
        try:
            raw = json.loads(paths.state_file.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            raise _unreadable(paths, str(e)) from e
        if not isinstance(raw, dict):
            raise _unreadable(paths, "it does not hold a JSON object")
        return cls(
            engine=_part(EngineState, raw.get("engine")),
            registry=_part(RegistryState, raw.get("registry")),
            mirror=_part(RegistryState, raw.get("mirror")),
            workspace=raw["workspace"] if isinstance(raw.get("workspace"), str) else "",
            packages=_part(PackagesState, raw.get("packages")),
        )

    def save(self, paths: LabPaths) -> None:
        paths.home.mkdir(parents=True, exist_ok=True)
        tmp = paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, paths.state_file)


def _unreadable(paths: LabPaths, reason: str) -> StateError:
    return StateError(
        f"The lab's state file {paths.state_file} cannot be read: {reason}",
        f"run `labkit down`, delete {paths.state_file}, then `labkit up`.",
    )


def _part(kind: type, raw: object):
    names = {f.name for f in fields(kind)}
    values = raw if isinstance(raw, dict) else {}
    return kind(**{k: v for k, v in values.items() if k in names})


@contextlib.contextmanager
def locked(paths: LabPaths) -> Iterator[None]:
    """Hold the lab lock: one `up`/`down` at a time per lab home."""
    paths.home.mkdir(parents=True, exist_ok=True)
    with open(paths.lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    return path
