"""A sandbox as data: its limits, what it is made of (`Spec`), and the sandbox itself (`Sandbox`):
where its folders are, the commands that run as its user inside it, the variables its kernel gets,
what it used and which limit it hit. Making and taking one down: `_box`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import FetchedEngine, docker_cli
from ..home import LabPaths, State
from ..machine import processes
from . import _cgroups
from ._basics import GiB, engine_path


@dataclass(frozen=True)
class Limits:
    memory: int = 2 * GiB  # the kernel, its engine, containers and registries together
    pids: int = 1000  # processes and threads together (each container's shim takes about 10)
    disk: int = 4 * GiB  # the sandbox's file system: images, containers, builds, pushes, /tmp


@dataclass(frozen=True)
class Spec:
    """What a sandbox needs: its name, limits, engine, the class mirror's storage, and the paths
    of the machine it must not see (submissions, reports, lab homes) or must (labkit, Python)."""

    name: str
    limits: Limits
    engine: FetchedEngine
    mirror_data: Path
    hide: tuple[Path, ...] = ()
    expose: tuple[Path, ...] = ()
    store: str = "containerd"
    seeded: Path | None = None  # a course registry's storage to start from (the base layers)
    kept: Path | None = None  # a folder that outlives the sandbox (a hub learner's work), bound at home/kept
    packages: Path | None = (
        None  # the class's Debian package store (`registries.package_source`), which its package source reads
    )
    offline: bool = False  # nothing of it reaches the internet: only the lab's own sources (a graded submission)
    throwaway: bool = True  # lives for one submission: its engine trades memory for CPU (THROWAWAY_GOGC)


class Running:
    """A process of a sandbox that another run started (a hub's, killed and started again): its pid,
    polled as a `subprocess.Popen` is (None while it runs)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        return 0 if processes.gone(self.pid) else None


@dataclass
class Sandbox:
    spec: Spec
    root: Path
    uid: int
    gid: int
    group: _cgroups.Group
    holder: subprocess.Popen | Running | None = None  # holds the mount namespace
    engine_proc: subprocess.Popen | Running | None = None
    engine_child: int = 0  # rootlesskit's child: the engine's user and network namespaces
    state: State = field(default_factory=State)
    loop: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def workspace(self) -> Path:
        return self.home / "workspace"

    @property
    def docker_config(self) -> Path:
        return self.home / "docker-config"

    @property
    def kernel_home(self) -> Path:
        """The kernel's LABKIT_HOME: a copy of the lab's state, the registry password, its own progress."""
        return self.home / "labkit"

    @property
    def kept(self) -> Path:
        """Where `Spec.kept` appears inside the sandbox."""
        return self.home / "kept"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def paths(self) -> LabPaths:
        """The grader's paths of this lab (root's): the registries, the state the checks read."""
        return LabPaths(home=self.root / "lab", cache=self.root / "lab" / "cache")

    @property
    def host(self) -> str:
        return f"unix://{self.run_dir / 'docker.sock'}"

    def command(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        network: bool = True,
        privileges: bool = False,
        cwd: Path | None = None,
    ) -> list[str]:
        """`argv` as the sandbox's user inside the sandbox, in `cwd` (its home): its cgroup, its mount
        namespace, the engine's network namespace (`network`), with `env` and nothing of this
        process's environment, and no way to gain privileges (`privileges`: only the engine, whose
        rootlesskit needs the setuid newuidmap)."""
        enter = ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt"]
        if network:
            enter.append(f"--net=/proc/{self.engine_child}/ns/net")
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--inh-caps=-all"]
        if not privileges:
            drop.append("--no-new-privs")
        return [
            *self._joined(),
            *enter,
            "--",
            *drop,
            "--",
            "env",
            "-i",
            f"--chdir={cwd or self.home}",
            *[f"{k}={v}" for k, v in env.items()],
            *argv,
        ]

    def _joined(self) -> list[str]:
        """A shell that puts itself into the sandbox's cgroup, then runs the rest of the command."""
        return ["/bin/sh", "-c", "; ".join([*self.group.join_commands(), 'exec "$@"']), "sh"]

    def in_network(self, argv: list[str]) -> list[str]:
        """`argv` as root (labkit's own: the registries), in the sandbox's cgroup and network namespace."""
        return [*self._joined(), "nsenter", f"--net=/proc/{self.engine_child}/ns/net", "--", *argv]

    def lab_variables(self) -> dict[str, str]:
        """What points a kernel of the sandbox's user at its lab, as `labkit env` points a learner's shell."""
        return {
            "DOCKER_HOST": self.host,
            "LABKIT_REGISTRY": self.state.registry.address,
            "LABKIT_USER": self.state.registry.user,
            "LABKIT_HOME": str(self.kernel_home),
            "DOCKER_CONFIG": str(self.docker_config),
        }

    def offer_plugins(self) -> None:
        """The user's Docker client configuration names the engine's buildx plugin (files the user owns)."""
        docker_cli.offer_plugins(self.docker_config, self.state.engine)
        for made in self.docker_config.iterdir():
            os.chown(made, self.uid, self.gid)

    def base_env(self) -> dict[str, str]:
        """What every process of the user starts with."""
        return {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(self.run_dir),
            "PATH": engine_path(self.spec.engine),
        }

    def limits_hit(self) -> list[str]:
        """Each limit the sandbox ran into, in words (the disk: full at the end)."""
        hit = self.group.limits_hit(self.spec.limits.memory, self.spec.limits.pids)
        try:
            usage = shutil.disk_usage(self.root)
            if usage.free < max(usage.total // 100, 8 * 2**20):
                hit.append(f"filled its {_cgroups.in_words(self.spec.limits.disk)} of disk")
        except OSError:
            pass
        return hit

    def peak_memory(self) -> int | None:
        return self.group.peak_memory()

    @property
    def processes_file(self) -> Path:
        """Root's record of the sandbox's own processes, which `adopt` reads to take it back."""
        return self.root / "lab" / "processes.json"

    def running(self) -> bool:
        """Its namespace's holder and its engine are alive (the engine's namespaces with them)."""
        return all(
            proc is not None and proc.poll() is None
            for proc in (self.holder, self.engine_proc, Running(self.engine_child) if self.engine_child else None)
        )
