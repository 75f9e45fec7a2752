"""A sandbox's engine: the rootless dockerd its user runs (rootlesskit, slirp4netns), what it needs
on this machine (`missing`), and where its programs come from (`engine_tree`).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from ..engines import THROWAWAY_GOGC, Engine, FetchedEngine
from ..errors import SandboxFailed
from ..home import EngineState, RegistryState
from ..machine import processes
from ..registries import programs
from . import _cgroups
from ._basics import START_TIMEOUT, engine_tree, sbin_path
from ._sandbox import Sandbox

log = logging.getLogger(__name__)


def _programs(engine: FetchedEngine) -> str:
    """EngineState.programs: the unpacked tree whose CLI and buildx plugin the kernel uses ("" for the machine's)."""
    tree = engine_tree(engine)
    return "" if tree == Path("/") else str(tree)


PROGRAMS = {  # program: the Debian package that has it
    "useradd": "passwd",
    "userdel": "passwd",
    "newuidmap": "uidmap",
    "rootlesskit": "rootlesskit",
    "rootlessctl": "rootlesskit",
    "slirp4netns": "slirp4netns",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "mkfs.ext4": "e2fsprogs",
    programs.PROGRAM: "docker-registry",
    "iptables": "iptables",
}


def missing(engine: FetchedEngine | None) -> list[tuple[str, str]]:
    """What this machine lacks to make a sandbox: (what, how to get it); empty when nothing."""
    lacks: list[tuple[str, str]] = []
    if os.geteuid() != 0:
        lacks.append(
            (
                "root",
                "run `labkit grade` as root (sudo): making a user, a cgroup, mounts and a "
                "namespace per submission needs it; the submissions themselves never run as root",
            )
        )
    packages = sorted({pkg for prog, pkg in PROGRAMS.items() if not shutil.which(prog, path=sbin_path())})
    if packages:
        lacks.append((f"programs from {', '.join(packages)}", f"apt-get install {' '.join(packages)}"))
    if _number("/proc/sys/user/max_user_namespaces") == 0 or _number("/proc/sys/kernel/unprivileged_userns_clone") == 0:
        lacks.append(("user namespaces", "sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1"))
    if _number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
        lacks.append(
            (
                "user namespaces for unprivileged users (AppArmor restricts them)",
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for rootlesskit",
            )
        )
    try:
        if not stat.S_ISCHR(os.stat("/dev/net/tun").st_mode):
            raise FileNotFoundError
    except FileNotFoundError:
        lacks.append(
            ("/dev/net/tun", "load the tun module (`modprobe tun`); in a container, pass --device /dev/net/tun")
        )
    if _cgroups.missing_controllers():
        lacks.append(
            (
                f"the cgroup controllers {', '.join(_cgroups.missing_controllers())}",
                "enable them for root's cgroup (cgroup v2: +memory +pids in cgroup.subtree_control)",
            )
        )
    if engine is None or not rootless_script(engine):
        lacks.append(
            (
                "Docker's rootless mode (dockerd-rootless.sh)",
                "run `labkit up` once, which fetches today's engine with it, or install docker.io",
            )
        )
    return lacks


def rootless_script(engine: FetchedEngine) -> Path | None:
    """The engine's dockerd-rootless.sh: in its unpacked tree, else the machine's."""
    for root in (engine_tree(engine), Path("/")):
        script = root / "usr/share/docker.io/contrib/dockerd-rootless.sh"
        if script.exists():
            return script
    found = shutil.which("dockerd-rootless.sh")
    return Path(found) if found else None


def _number(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def storage_args(store: str, current: bool, on_tmpfs: bool) -> list[str]:
    """The rootless engine's storage. On tmpfs (a machine with no loop device: the sandbox's disk is
    memory) a rootless engine's overlay mounts cannot rename a directory ("Invalid cross-device
    link" at `apt-get install` in a build, moby/moby#44372): there it keeps images unlayered,
    containerd's native snapshotter or the classic store's vfs, slower and larger but right."""
    args = [f"--feature=containerd-snapshotter={'true' if store == 'containerd' else 'false'}"] if current else []
    if on_tmpfs:
        args.append(f"--storage-driver={'native' if store == 'containerd' else 'vfs'}")
    return args


def start_engine(sb: Sandbox) -> None:
    """The user's rootless engine: dockerd-rootless.sh (rootlesskit, slirp4netns), its mirror the
    view of the class's that starts next, inside the engine's own network namespace."""
    script = rootless_script(sb.spec.engine)
    mirror_port = processes.free_port()
    sb.state.mirror = RegistryState(port=mirror_port)
    args = [
        str(script),
        f"--host={sb.host}",
        f"--registry-mirror=http://127.0.0.1:{mirror_port}",
        f"--pidfile={sb.run_dir / 'docker.pid'}",
    ]
    args += storage_args(sb.spec.store, sb.spec.engine.current, on_tmpfs=not sb.loop)
    if sb.spec.engine.current:
        # No IPv6 rules: today's engine runs ip6tables beside iptables at every start, CPU paid for
        # every sandbox (docs/benchmarks.md), for networks no submission gets.
        args.append("--ip6tables=false")
    env = {
        **sb.base_env(),
        "DOCKERD_ROOTLESS_ROOTLESSKIT_NET": "slirp4netns",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER": "builtin",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK": "true",
        **({"GOGC": THROWAWAY_GOGC} if sb.spec.throwaway else {}),  # it lives for one submission
    }  # (a hub learner's lab lives all day: Go's default, less memory)
    if "ROOTLESSKIT_STATE_DIR" not in script.read_text():  # 20.10's script: rootlesskit's state in a temporary folder
        env["DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS"] = f"--state-dir={sb.run_dir / 'dockerd-rootless'}"
    log = sb.root / "lab" / "engine.log"
    sb.engine_proc = processes.spawn(sb.command(args, env, network=False, privileges=True), log)
    child = sb.run_dir / "dockerd-rootless" / "child_pid"

    def answers() -> bool:
        if not child.exists() or not (sb.run_dir / "docker.sock").exists():
            return False
        try:
            with Engine(sb.host, timeout=2) as engine:
                engine.info()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    failure = processes.wait_ready(answers, sb.engine_proc, START_TIMEOUT)
    if failure:
        raise SandboxFailed("starting its rootless Docker engine", f"{failure}\n{processes.log_tail(log)}")
    sb.engine_child = int(child.read_text().strip())
    sb.state.engine = EngineState(
        host=sb.host,
        managed=False,
        store=sb.spec.store,
        version=sb.spec.engine.version,
        programs=_programs(sb.spec.engine),
    )
