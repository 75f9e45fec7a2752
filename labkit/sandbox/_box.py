"""A sandbox: a throwaway unprivileged user with its own rootless Docker engine, course registry and
read-only view of the class's mirror, inside a cgroup (memory, processes) on a file system of its
own (disk), in a mount namespace where nothing of the class is visible and nothing outside the
sandbox is writable. The grader makes one per submission; what runs a submission's commands runs
as that user, in there, never as root.

    sandbox = make(Spec(...))           # as root; raises SandboxUnavailable / SandboxFailed
    argv = sandbox.command(["python", ...], env)   # that command as the user, inside the sandbox
    sandbox.limits_hit(), sandbox.peak_memory()
    take_down(sandbox)                  # processes, mounts, cgroup, user: all gone
    clean_leftovers()                   # what a killed run left

Inside, `127.0.0.1` is the engine's own network namespace (rootlesskit's, with slirp4netns out to
the internet): there the course registry listens on the port its tags name, and the mirror view
on another. Both are published on the machine's loopback under the same ports (rootlesskit's port
driver), so `127.0.0.1:PORT/learner/app` names the same registry for the notebook, its engine and
the grader. The registries run as root, their storage out of the user's reach: what the sandbox
pushes is all that reaches them.

The layout, on the sandbox's own ext4 file system (a sparse file of the disk limit, loop-mounted
at BASE/NAME; tmpfs where no loop device can be had):

    home/   the user's (0700): workspace/, docker-config/, labkit/ (the kernel's LABKIT_HOME: a copy
            of the lab's state and the registry password), the engine's data
    run/    the user's XDG_RUNTIME_DIR (0700): docker.sock, rootlesskit's state
    tmp/    the user's (0700): bound over /tmp and /var/tmp inside; shm/ over /dev/shm
    lab/    root's (0700): the registries' configs and storage, the grader's copy of the state
    tun     a /dev/net/tun the user can open (the machine's may be 0600 without udev)
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import FetchedEngine, docker_cli
from ..errors import SandboxFailed, SandboxUnavailable
from ..home import LabPaths, State
from . import _cgroups
from ._basics import BASE, PREFIX, GiB
from ._disk import lay_out, make_disk, unmount
from ._engine import engine_path, missing, start_engine
from ._services import cut_internet, forget_cut, serve_packages, start_registries, write_state
from ._users import add_user, del_user
from ._view import hold_namespace

log = logging.getLogger(__name__)


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


@dataclass
class Sandbox:
    spec: Spec
    root: Path
    uid: int
    gid: int
    group: _cgroups.Group
    holder: subprocess.Popen | None = None  # holds the mount namespace
    engine_proc: subprocess.Popen | None = None
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


# --- making one ----------------------------------------------------------------------------
def make(spec: Spec) -> Sandbox:
    """A running sandbox for `spec`; anything made on the way is taken down when a step fails."""
    if lacks := missing(spec.engine):
        raise SandboxUnavailable(lacks)
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o711)  # the user enters its own folder in there, and sees no other
    sandbox = None
    try:
        uid, gid = add_user(spec.name)
        sandbox = Sandbox(spec, BASE / spec.name, uid, gid, _cgroups.Group(spec.name))
        sandbox.group.create(spec.limits.memory, spec.limits.pids)
        make_disk(sandbox)
        lay_out(sandbox)
        hold_namespace(sandbox)
        start_engine(sandbox)
        start_registries(sandbox)
        serve_packages(sandbox)
        if spec.offline:
            cut_internet(sandbox)
        write_state(sandbox)
        return sandbox
    except BaseException:
        if sandbox is not None:
            take_down(sandbox)
        else:
            del_user(spec.name)
        raise


def take_down(sb: Sandbox) -> None:
    """Every process of it (the kernel, the engine and its containers, the registries, the namespace's
    holder) killed at once through its cgroup; then its file system, cgroup and user removed."""
    sb.group.kill_all()
    for proc in (sb.holder, sb.engine_proc):
        if proc is not None:
            proc.poll()
    unmount(sb.root)
    shutil.rmtree(sb.root, ignore_errors=True)
    sb.group.remove()
    if sb.spec.offline:
        forget_cut(sb.name)
    del_user(sb.name)


def names_of_runs() -> dict[str, int]:
    """Every sandbox user on this machine: {name: the pid of the run that made it}."""
    found = {}
    for entry in pwd.getpwall():
        parts = entry.pw_name.split("-")
        if entry.pw_name.startswith(PREFIX + "-") and len(parts) == 4 and parts[2].isdigit():
            found[entry.pw_name] = int(parts[2])
    for group in _cgroups.leftovers():
        parts = group.name.split("-")
        if group.name.startswith(PREFIX + "-") and len(parts) == 4 and parts[2].isdigit():
            found.setdefault(group.name, int(parts[2]))
    return found


def clean_leftovers(run: int | None = None) -> list[str]:
    """Take down the sandboxes of runs that are gone (killed: SIGKILL, a power cut), or every one of
    the run `run` (an interrupted run, whose workers were stopped mid-way); their names."""
    cleaned = []
    for name, pid in names_of_runs().items():
        if (pid != run) if run is not None else _alive(pid):
            continue
        group = _cgroups.Group(name)
        try:
            group.kill_all()
            unmount(BASE / name)
            shutil.rmtree(BASE / name, ignore_errors=True)
            (BASE / f"{name}.img").unlink(missing_ok=True)
            group.remove()
            forget_cut(name)
            del_user(name)
        except (SandboxFailed, OSError) as e:  # one that will not go must not stop a run: the next tries again
            log.warning("labkit: the sandbox %s of an earlier run could not be taken down yet: %s", name, e)
            continue
        cleaned.append(name)
    return cleaned


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
