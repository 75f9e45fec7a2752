"""What a check can read: the lab's engine, its registry, the workspace, the learner's Docker config.

Built from the state `labkit up` wrote. Nothing here is cached between checks except
the connections, so a check always sees the engine as it is now.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import Engine, choice, docker_cli, docker_config_dir
from ..errors import LabNotUp
from ..home import LabPaths, State
from ..registries import BASE_IMAGES, MIRROR, REGISTRY, RegistryClient, programs, repo_tag


def _opened(state: State) -> str:
    """The workspace `labkit lab` last opened, where it still is ("" if none)."""
    return state.workspace if state.workspace and Path(state.workspace).is_dir() else ""


@dataclass
class LabContext:
    paths: LabPaths
    state: State
    workspace: Path
    docker_config: Path = field(default_factory=docker_config_dir)
    _engine: Engine | None = field(default=None, repr=False)
    _clients: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, workspace: Path | None = None) -> "LabContext":
        paths = LabPaths.from_env()
        state = State.load(paths)
        if not state.engine.host or not state.registry.port:
            raise LabNotUp()
        where = workspace or Path(os.environ.get("LABKIT_WORKSPACE") or _opened(state) or Path.cwd())
        return cls(paths, state, where.resolve(), docker_cli.config_dir(paths, state.engine) or docker_config_dir())

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.state.engine.host, timeout=60)
        return self._engine

    @property
    def registry_address(self) -> str:
        return self.state.registry.address

    @property
    def user(self) -> str:
        return self.state.registry.user or programs.USER

    @property
    def password(self) -> str:
        return programs.password(self.paths)

    def registry(self) -> RegistryClient:
        """The course registry, logged in as the lab's learner (one connection, kept)."""
        if "registry" not in self._clients:
            self._clients["registry"] = programs.client(self.paths, REGISTRY, self.state.registry)
        return self._clients["registry"]

    def mirror(self) -> RegistryClient:
        if "mirror" not in self._clients:
            self._clients["mirror"] = programs.client(self.paths, MIRROR, self.state.mirror)
        return self._clients["mirror"]

    def pulls_through_mirror(self) -> bool:
        """Whether `docker pull nginx` goes through the lab's mirror (labkit's own engine always does;
        the learner's own engine only with the mirror in its daemon.json)."""
        return self.state.engine.managed or choice.uses_mirror(self.engine.info(), self._mirror_url)

    @property
    def _mirror_url(self) -> str:
        return f"http://{self.state.mirror.address}"

    def pull_advice(self, ref: str) -> str:
        """For a base image missing from the learner's own engine: how to get it where Docker Hub is out of reach."""
        if self.state.engine.managed or repo_tag(ref) not in {repo_tag(base) for base in BASE_IMAGES}:
            return ""
        info = self.engine.info()
        if choice.uses_mirror(info, self._mirror_url):
            return ""
        setting = choice.mirror_setting(info, self._mirror_url)
        return (
            f" If `docker pull` cannot reach Docker Hub (offline), your engine needs the lab's mirror: {setting}; "
            "or load the course's bundle with `labkit mirror load FILE`."
        )

    def docker_config_auths(self) -> dict:
        try:
            config = json.loads((self.docker_config / "config.json").read_text())
        except (OSError, ValueError):
            return {}
        return config if isinstance(config, dict) else {}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def last_reset(ctx: LabContext, lesson: str) -> float:
    """When the lesson was last reset (epoch seconds; 0 if never): checks that read the
    engine's event log look only at what happened since."""
    from ._progress import ProgressStore

    return ProgressStore.for_paths(ctx.paths).last_reset(lesson)
