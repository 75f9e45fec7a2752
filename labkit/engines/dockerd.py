"""The managed engine: a `dockerd` that labkit starts, and stops, on its own.

It keeps everything of its own so it can run beside an engine the machine already
has: data root and logs under the lab home, an exec root under /run, a unix socket
(mode 0660, never TCP), a pid file, a config file that ignores /etc/docker/daemon.json,
containerd namespaces, a bridge with a subnet no other interface uses, and firewall rules
of its own (`lab_rules`): it runs with ``--iptables=false``, since a dockerd that manages
iptables empties the machine's shared DOCKER chains as it starts. Its
``--registry-mirror`` is the lab's mirror, so `docker pull nginx` needs no internet.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import EngineStartFailed, EngineUnreachable, MissingProgram
from ..home import EngineState, LabPaths, ensure_dir
from ..machine import processes
from ._sdk import Engine
from .fetched import FetchedEngine

PROGRAM = "dockerd"
START_LOCK = "/run/labkit-dockerd-start.lock"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0


@dataclass(frozen=True)
class Layout:
    folder: Path
    socket: Path
    pidfile: Path
    log: Path
    config: Path
    data_root: Path
    exec_root: Path
    bridge: str
    namespace: str

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


#: A unix socket's path must fit in 108 bytes (sun_path); a deeper lab home gets its socket in /run.
SOCKET_PATH_MAX = 100


def layout(paths: LabPaths) -> Layout:
    folder = paths.engine_dir
    socket = folder / "docker.sock"
    if len(str(socket).encode()) > SOCKET_PATH_MAX:
        socket = Path("/run") / f"labkit-{paths.key}.sock"
    return Layout(
        folder=folder,
        socket=socket,
        pidfile=folder / "dockerd.pid",
        log=folder / "dockerd.log",
        config=folder / "daemon.json",
        data_root=folder / "data",
        exec_root=Path("/run") / f"labkit-{paths.key}",
        bridge=f"lk-{paths.key}",
        namespace=f"labkit-{paths.key}",
    )


def running_pid(paths: LabPaths) -> int | None:
    """The pid of this lab's dockerd when it runs, else None."""
    lay = layout(paths)
    try:
        pid = int(lay.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if processes.is_running(pid, PROGRAM, str(lay.data_root)) else None


def mirror_flag(pid: int) -> str:
    for arg in processes.cmdline(pid):
        if arg.startswith("--registry-mirror="):
            return arg.split("=", 1)[1]
    return ""


def current(
    paths: LabPaths, mirror_url: str, previous: EngineState, program: str | None = None, store: str | None = None
) -> EngineState | None:
    """This lab's dockerd, when it runs, answers, and uses `mirror_url` as its mirror (and, where
    said, is `program` with its images in `store`); else None."""
    lay, pid = layout(paths), running_pid(paths)
    if not pid or mirror_flag(pid) != mirror_url or not _ping(lay.host):
        return None
    if (program and processes.cmdline(pid)[:1] != [program]) or (store and store != previous.store):
        return None
    return EngineState(
        host=lay.host,
        managed=True,
        pid=pid,
        bridge=lay.bridge,
        subnet=previous.subnet,
        store=previous.store,
        version=previous.version,
        programs=previous.programs,
        plugins=previous.plugins,
    )


#: The image stores a managed engine can keep its images in: containerd's (Engine 29's and Docker
#: Desktop's default, where an image ID is its manifest's digest) or the classic overlay2 one.
STORES = ("containerd", "classic")


def start(
    paths: LabPaths,
    mirror_url: str,
    previous: EngineState,
    throwaway: bool = False,
    engine: FetchedEngine | None = None,
    store: str = "classic",
    driver: str = "",
) -> EngineState:
    """Start this lab's dockerd (`engine`'s, else the installed one) with its images in `store`; one of
    ours still running (an old mirror port, not answering) is stopped first. A `throwaway` engine (a
    grading lab's, used for one submission) trades memory for CPU: `THROWAWAY_GOGC`."""
    lay = layout(paths)
    pid = running_pid(paths)
    if pid:
        processes.stop(pid, PROGRAM, str(lay.data_root), STOP_TIMEOUT)
    _require_root_and_program(engine)
    with _machine_lock():  # two labs starting at once must not take one subnet, nor a clean-up read rules meanwhile
        subnet = _ensure_bridge(lay.bridge, previous.subnet)
        try:
            _allow_traffic(lay.bridge, subnet)
        except BaseException:
            _clean_up_locked(lay)
            raise
    return _start(paths, lay, mirror_url, subnet, throwaway, engine, store, driver)


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    try:
        handle = open(START_LOCK, "a")
    except OSError:  # not root: no managed engine of ours can be running here to race with
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start(
    paths: LabPaths,
    lay: Layout,
    mirror_url: str,
    subnet: str,
    throwaway: bool,
    engine: FetchedEngine | None,
    store: str,
    driver: str = "",
) -> EngineState:
    ensure_dir(lay.folder)
    features = {"containerd-snapshotter": store == "containerd"} if engine and engine.current else {}
    lay.config.write_text(json.dumps({"features": features} if features else {}) + "\n")
    pool = _address_pool(subnet)
    argv = [
        engine.dockerd if engine else (shutil.which(PROGRAM) or PROGRAM),
        f"--config-file={lay.config}",
        f"--data-root={lay.data_root}",
        f"--exec-root={lay.exec_root}",
        f"--host=unix://{lay.socket}",
        f"--pidfile={lay.pidfile}",
        f"--bridge={lay.bridge}",
        "--iptables=false",  # its rules are `lab_rules`; published ports go through docker-proxy
        f"--default-address-pool=base={pool},size=28",
        f"--containerd-namespace={lay.namespace}",
        f"--containerd-plugins-namespace={lay.namespace}-plugins",
        f"--registry-mirror={mirror_url}",
        *([f"--storage-driver={driver}"] if driver else []),
    ]
    proc = processes.spawn(argv, lay.log, env=_environment(lay, throwaway, engine))
    failure = processes.wait_ready(lambda: _ping(lay.host), proc, START_TIMEOUT)
    if failure:
        if proc.poll() is None:
            processes.stop(proc.pid, PROGRAM, timeout=10)
        _clean_up(lay)
        raise EngineStartFailed(failure, lay.log, processes.log_tail(lay.log))
    os.chmod(lay.socket, 0o660)
    version = engine.version if engine else ""
    return EngineState(
        host=lay.host,
        managed=True,
        pid=proc.pid,
        bridge=lay.bridge,
        subnet=subnet,
        store=store if engine and engine.current else "classic",
        version=version,
        programs=str(engine.root) if engine and engine.root else "",
        plugins=str(engine.plugins) if engine and not engine.root and engine.plugins else "",
    )


#: Go's collector setting (GOGC) for a throwaway engine, inherited by its containerd and by the
#: copies of dockerd that unpack layers. At Go's default (100) the heap is collected each time it
#: doubles from a few MB; a grading lab's engine lives for one submission, in which it pulls and
#: unpacks nginx: at 400 its unpacker collects less often and so spends less CPU, for a little
#: more memory per engine, given back when the engine ends (figures: docs/benchmarks.md).
THROWAWAY_GOGC = "400"


def _environment(lay: Layout, throwaway: bool, engine: FetchedEngine | None = None) -> dict[str, str] | None:
    """dockerd's environment (None: this process's own): `engine`'s programs first on its PATH (its
    containerd, shim, docker-proxy, docker-init; the machine's runc after them)."""
    base = {**os.environ, "PATH": engine.path(os.environ.get("PATH", os.defpath))} if engine and engine.root else None
    env = _with_quiet_containerd(lay, base)
    if throwaway:
        env = {**(env or os.environ), "GOGC": THROWAWAY_GOGC}
    return env


#: The garbage collector of dockerd's containerd starts its next run 49 times as long after
#: the last one as that run took (its pause_threshold, 0.02). On a lab in memory a run is so short
#: that it wakes again almost at once, over and over, for nothing, as long as the engine runs
#: (containerd gc/scheduler/scheduler.go; figures: docs/benchmarks.md). With 0 it looks
#: once a second, and collects only after deletions or 100 changes, as it does anyway.
CONTAINERD_GC = (
    "[plugins.scheduler]\n  pause_threshold = 0.0\n"  # its name in containerd 1.x
    '[plugins."io.containerd.gc.v1.scheduler"]\n  pause_threshold = 0.0\n'  # in containerd 2.x (dockerd 28)
)


def _with_quiet_containerd(lay: Layout, base: dict[str, str] | None = None) -> dict[str, str] | None:
    """The environment dockerd starts with (`base`, else this process's): its PATH leads first to a
    `containerd` of the engine's own, which adds `CONTAINERD_GC` to the config dockerd wrote (dockerd
    has no setting for it) and runs the real one. `base` where no containerd is found."""
    env = base or os.environ
    real = shutil.which("containerd", path=env.get("PATH", os.defpath))
    if not real:
        return base  # dockerd says so itself
    folder = lay.folder / "bin"
    ensure_dir(folder)
    header = CONTAINERD_GC.splitlines()[0]  # "[plugins.scheduler]": already added, when containerd restarts
    added = "\n" + CONTAINERD_GC
    wrapper = folder / "containerd"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Written by labkit (see CONTAINERD_GC in labkit/engines/dockerd.py): dockerd runs this as its containerd.\n"
        'for argument in "$@"; do\n'
        f'  if [ "$previous" = --config ] && ! grep -qxF {shlex.quote(header)} "$argument"; then\n'
        f'    printf %s {shlex.quote(added)} >> "$argument"\n'
        "  fi\n"
        '  previous="$argument"\n'
        "done\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return {**env, "PATH": f"{folder}{os.pathsep}{env.get('PATH', os.defpath)}"}


def stop(paths: LabPaths) -> bool:
    """Stop this lab's dockerd if it runs; its images and containers stay in its data root."""
    lay = layout(paths)
    pid = running_pid(paths)
    stopped = bool(pid) and processes.stop(pid, PROGRAM, str(lay.data_root), STOP_TIMEOUT, _shut_down(lay))
    lay.pidfile.unlink(missing_ok=True)  # dockerd removes it as it exits, unless it was ended
    _clean_up(lay)
    return stopped


#: What dockerd logs once its shutdown is done, before it waits for its containerd to exit.
SHUT_DOWN = "Daemon shutdown complete"


def _shut_down(lay: Layout) -> Callable[[], bool]:
    """For `processes.stop`: has the dockerd being stopped shut down, and its containerd exited?

    dockerd then only waits: it looks whether its containerd is gone once a second (moby's
    libcontainerd/supervisor `stopDaemon`), so each stop would cost a second for nothing."""
    try:
        offset = lay.log.stat().st_size
    except OSError:
        offset = 0
    containerd = str(lay.exec_root / "containerd")

    def finished() -> bool:
        try:
            with open(lay.log, "rb") as log:
                log.seek(offset)
                if SHUT_DOWN.encode() not in log.read():
                    return False
        except OSError:
            return False
        return not any(argument.startswith(containerd) for argument in processes.all_arguments())

    return finished


def _clean_up(lay: Layout) -> None:
    """What a dockerd that died, or stopped, may leave: its bridge and the bridge's firewall
    rules, its exec root in /run, and its data root bind-mounted onto itself (dockerd makes it
    a private mount and undoes that only on a clean shutdown). Those left by earlier labs'
    engines go too."""
    with _machine_lock():  # no engine starts (adding rules) while the rules of gone bridges are read
        _clean_up_locked(lay)


def _clean_up_locked(lay: Layout) -> None:
    _delete_bridge(lay.bridge)
    _forget_rules()
    _forget_run_entries()
    if is_bound_onto_itself(lay.data_root):
        unmount(lay.data_root)
    _release_data_root(lay)


#: What `layout` puts in /run: exec roots (/run/labkit-KEY) and the sockets of deep lab homes.
RUN_ENTRY = re.compile(r"labkit-[0-9a-f]{8}(\.sock)?")


def _forget_run_entries(run: Path = Path("/run")) -> list[Path]:
    """Remove the exec roots and sockets in `run` that no running process names: dockerd leaves its
    exec root when it stops, and grading a class makes a lab, and so an exec root, per submission.
    Returns what was removed."""
    try:
        entries = [entry for entry in run.iterdir() if RUN_ENTRY.fullmatch(entry.name)]
    except OSError:
        return []
    if not entries:
        return []
    named = "\0".join(processes.all_arguments())
    gone = [entry for entry in entries if str(entry) not in named]
    for entry in gone:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return gone


def mount_points() -> set[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1}


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo: a mount's id, its parent's, its device, which folder of
    that device it shows (`root`), and where."""

    id: int
    parent: int
    device: str
    root: str
    point: str
    fstype: str = ""
    source: str = ""


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts(text: str | None = None) -> list[Mount]:
    """The mount table (proc(5) mountinfo), in the order the mounts were made."""
    if text is None:
        try:
            text = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0].isdigit() and parts[1].isdigit():
            after = parts[parts.index("-") + 1 :] if "-" in parts[5:] else []
            found.append(
                Mount(
                    int(parts[0]),
                    int(parts[1]),
                    parts[2],
                    _unescape(parts[3]),
                    _unescape(parts[4]),
                    after[0] if after else "",
                    _unescape(after[1]) if len(after) > 1 else "",
                )
            )
    return found


def is_bound_onto_itself(path: Path, table: list[Mount] | None = None) -> bool:
    """Is the top mount at `path` a folder bind-mounted onto itself, as dockerd does with its data
    root? Only that is labkit's engine's to undo: a file system someone mounted there (a tmpfs, a
    disk) is a mount of another device, or of another folder, and stays."""
    table = mounts() if table is None else table
    at = [m for m in table if m.point == str(path)]
    if not at:
        return False
    top = at[-1]
    parent = next((m for m in table if m.id == top.parent), None)
    if parent is None or parent.device != top.device:
        return False
    inside = os.path.relpath(path, parent.point)
    return os.path.normpath(os.path.join(parent.root, inside)) == top.root


def filesystem_of(path: Path, table: list[Mount] | None = None) -> Mount | None:
    """The mount `path` lies on (the deepest mount point above it, the last one mounted there)."""
    table = mounts() if table is None else table
    real = Path(os.path.realpath(path))
    above = [m for m in table if real.is_relative_to(m.point)]
    return max(above, key=lambda m: (len(Path(m.point).parts), table.index(m)), default=None)


def on_overlayfs(path: Path, table: list[Mount] | None = None) -> bool:
    """Whether `path` lies on overlayfs (a container's own file system), where an engine's overlay
    snapshots cannot be mounted ("invalid argument")."""
    under = filesystem_of(path, table)
    return under is not None and under.fstype == "overlay"


#: A data root on overlayfs (a lab inside a container whose root file system is overlayfs) cannot
#: hold overlay snapshots: containerd's overlayfs snapshotter fails to mount them ("invalid
#: argument"), and dockerd falls back from overlay2 to the slow vfs. Such a lab's data root is then
#: a file system of its own: ext4 in a sparse file of this size in the lab's folder, loop-mounted.
DATA_IMAGE_SIZE = 64 * 2**30


def prepare_data_root(paths: LabPaths, store: str) -> tuple[str, list[str]]:
    """A data root the engine's snapshots can be mounted from: (the storage driver to ask for, "" for
    the engine's own choice; what to tell the learner, said once). On overlayfs it is a loop-mounted
    ext4 of its own (`DATA_IMAGE_SIZE`, sparse: it takes what it holds); where no loop device can be
    had, the engine keeps its images without overlay (containerd's native snapshotter, or vfs: every
    layer copied, slower and bigger)."""
    lay = layout(paths)
    ensure_dir(lay.folder)
    lay.data_root.mkdir(exist_ok=True)
    if not on_overlayfs(lay.data_root):
        return "", []
    image = lay.folder / "data.img"
    said = lay.folder / "data-root.said"
    made = not image.exists()
    try:
        if made:
            with open(image, "wb") as sparse:
                sparse.truncate(DATA_IMAGE_SIZE)
            _system("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=1", str(image))
        _system("mount", "-o", "loop", str(image), str(lay.data_root))
    except (OSError, subprocess.CalledProcessError) as e:
        if made:
            image.unlink(missing_ok=True)
        driver = "native" if store == "containerd" else "vfs"
        return driver, _once(
            said,
            f"{lay.folder} is on overlayfs (a container's file system), where the engine's image "
            f"layers cannot be overlaid, and no loop device could be had for a file system of its own "
            f"({_why(e)}): its images are kept without overlay ({driver}), which is slower and takes "
            "more disk. Give the container a volume for the lab's home, or the loop devices.",
        )
    return "", _once(
        said,
        f"{lay.folder} is on overlayfs (a container's file system), where the engine's image layers "
        f"cannot be overlaid: the engine keeps them in an ext4 file system of its own, {image} (sparse, "
        "mounted while the lab runs).",
    )


def _system(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, "PATH": _sbin_path()})


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])


def _why(e: Exception) -> str:
    if isinstance(e, subprocess.CalledProcessError):
        return (e.stderr or "").strip().splitlines()[-1] if (e.stderr or "").strip() else f"{e.cmd[0]} failed"
    return str(e)


def _once(marker: Path, text: str) -> list[str]:
    if marker.exists():
        return []
    marker.write_text(text + "\n")
    return [text]


def _release_data_root(lay: Layout) -> None:
    """A data root of its own (see `prepare_data_root`) is unmounted once its engine stopped."""
    image = lay.folder / "data.img"
    at = [m for m in mounts() if m.point == str(lay.data_root)]
    if image.exists() and at and at[-1].fstype == "ext4" and not unmount(lay.data_root):
        unmount(lay.data_root, lazy=True)


#: umount2's flag: detach now, and free the file system once nothing holds it open.
MNT_DETACH = 2


def unmount(path: Path, lazy: bool = False) -> bool:
    """Unmount `path` (with `lazy`, once nothing holds it open) by the umount2 system call, so that
    no `umount` on PATH is needed. False where it cannot be (busy, not mounted, not root)."""
    return _libc().umount2(os.fsencode(str(path)), MNT_DETACH if lazy else 0) == 0


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _ping(host: str) -> bool:
    try:
        with Engine(host, timeout=5) as engine:
            return engine.ping()
    except EngineUnreachable:
        return False


def _require_root_and_program(engine: FetchedEngine | None = None) -> None:
    if not (engine and engine.root) and not shutil.which(PROGRAM):
        raise MissingProgram(PROGRAM, "docker.io", "to start the lab's own Docker engine (no engine is reachable)")
    if os.geteuid() != 0:
        raise EngineStartFailed(
            "no Docker engine is reachable, and labkit can start its own only as root",
            None,
            next_step="start Docker (Docker Desktop, or `sudo systemctl start docker`) and run `labkit up` "
            "again, or run `sudo labkit up`.",
        )


# --- the bridge ----------------------------------------------------------------------
def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def _ensure_bridge(name: str, subnet: str) -> str:
    """Make the managed engine's bridge with a /24 no route on this machine uses yet."""
    shown = _ip("-4", "-o", "addr", "show", "dev", name)
    if shown.returncode == 0 and " inet " in shown.stdout:
        return str(ipaddress.ip_interface(shown.stdout.split(" inet ")[1].split()[0]).network)
    if not shutil.which("ip"):
        raise MissingProgram("ip", "iproute2", "to give the lab's engine a network bridge of its own")
    subnet = subnet or _free_subnet(start=int(name.rsplit("-", 1)[-1], 16) % 250)
    network = ipaddress.ip_network(subnet)
    gateway = f"{next(network.hosts())}/{network.prefixlen}"
    for args in (
        ("link", "add", "name", name, "type", "bridge"),
        ("addr", "add", gateway, "dev", name),
        ("link", "set", name, "up"),
    ):
        result = _ip(*args)
        if result.returncode != 0 and "File exists" not in result.stderr:
            raise EngineStartFailed(
                f"could not set up its bridge {name}: `ip {' '.join(args)}` said {result.stderr.strip()}", None
            )
    return subnet


def _delete_bridge(name: str) -> None:
    if shutil.which("ip"):
        _ip("link", "delete", name, "type", "bridge")


# --- the bridges' firewall rules ---------------------------------------------------------
BRIDGE_NAME = re.compile(r"\blk-[0-9a-f]{8}\b")  # `layout`'s bridge names


def _has_iptables() -> bool:
    return bool(shutil.which("iptables-save") and shutil.which("iptables-restore"))


def _saved_rules() -> dict[str, str]:
    """`iptables-save` output of the tables labs' rules are in, per table."""
    return {
        t: subprocess.run(["iptables-save", "-t", t], capture_output=True, text=True).stdout for t in ("filter", "nat")
    }


def _allow_traffic(bridge: str, subnet: str) -> None:
    """Add the firewall rules of a lab's containers (`lab_rules`), in place of any left from an
    earlier start of the same lab, with one `iptables-restore`."""
    if not _has_iptables():
        raise MissingProgram("iptables-restore", "iptables", "to let the lab's containers reach the network")
    saved = _saved_rules()
    script = lab_rules(bridge, subnet, _address_pool(subnet), saved)
    result = subprocess.run(["iptables-restore", "--noflush", "--wait"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        raise EngineStartFailed(
            f"could not add the firewall rules of its bridge {bridge}: iptables-restore said {result.stderr.strip()}",
            None,
        )


def lab_rules(bridge: str, subnet: str, pool: str, saved: dict[str, str]) -> str:
    """An `iptables-restore --noflush` script giving a lab's containers, on its bridge (`subnet`)
    and on the networks made in it (`pool`), what dockerd would: the way out (MASQUERADE),
    replies back, and traffic among themselves, even where the machine's FORWARD policy is
    DROP (as a dockerd of the machine's own sets it). Each rule says "labkit BRIDGE", so the
    rules go with the bridge (`stale_rules`), and those already in `saved` (`iptables-save -t
    TABLE` output, per table) are replaced. Nothing else is touched: a dockerd that manages
    iptables itself empties the DOCKER chains, and so the published ports, of every other
    engine on the machine as it starts."""
    tag = f'-m comment --comment "labkit {bridge}"'
    ours = {
        table: [
            "-D " + line[3:]
            for line in saved.get(table, "").splitlines()
            if line.startswith("-A ") and f'"labkit {bridge}"' in line
        ]
        for table in ("filter", "nat")
    }
    nat = [f"-A POSTROUTING -s {net} ! -d {net} {tag} -j MASQUERADE" for net in (subnet, pool)]
    forward = [
        rule
        for net in (subnet, pool)
        for rule in (
            f"-I FORWARD -s {net} {tag} -j ACCEPT",
            f"-I FORWARD -d {net} -m conntrack --ctstate RELATED,ESTABLISHED {tag} -j ACCEPT",
        )
    ]
    return "\n".join(["*filter", *ours["filter"], *forward, "COMMIT", "*nat", *ours["nat"], *nat, "COMMIT"]) + "\n"


def _forget_rules() -> None:
    """Delete the iptables rules of every lab bridge that no longer exists.

    A lab's rules (`lab_rules`; before them, dockerd's own, which it leaves when it stops to
    find them again on its next start) name its bridge. The bridge goes with its engine, so
    its rules would only pile up, a set for every lab ever started, and every iptables call
    (each container start, each engine start) reads them all. The rules of a bridge that still
    exists are never touched. One `iptables-restore` makes every deletion; where it refuses
    (a rule gone meanwhile), the rules are deleted one by one."""
    if not _has_iptables():
        return
    saved = _saved_rules()
    # The machine's networks matter only to a lab container's published-port rule: read them (two
    # `ip` calls) only when there is one, not at every engine's stop.
    known = shutil.which("ip") and any(HAIRPIN.search(line) for line in saved["nat"].splitlines())
    script = stale_rules(saved, _links(), _used_networks() if known else None)
    if not script:
        return
    if subprocess.run(["iptables-restore", "--noflush"], input=script, capture_output=True, text=True).returncode != 0:
        table = ""
        for line in script.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith("-D "):
                subprocess.run(["iptables", "-t", table, *shlex.split(line)], capture_output=True)


#: The addresses labs' engines give containers: their bridges' subnets (`_free_subnet`) and
#: their own networks' (`_address_pool`).
LAB_ADDRESSES = (ipaddress.ip_network("10.123.0.0/16"), ipaddress.ip_network("10.124.0.0/16"))
#: The rule a dockerd managing iptables (labs' engines did, before `lab_rules`) adds for a
#: container's published port (so the container reaches itself through it); it names the
#: container's address, not its bridge.
HAIRPIN = re.compile(r"-s (\d+\.\d+\.\d+\.\d+)/32 -d \1/32 .*-j MASQUERADE")


def stale_rules(saved: dict[str, str], links: set[str], networks: Iterable[ipaddress.IPv4Network] | None = None) -> str:
    """An `iptables-restore --noflush` script deleting the rules (from `iptables-save -t TABLE`
    output, per table) that name a lab bridge not in `links`, and the published-port rules of a
    lab's container whose address is on none of this machine's `networks` (an engine that died
    with the container running leaves them; None: the networks are not known, those stay);
    "" when there are none."""
    networks = None if networks is None else list(networks)
    script = []
    for table, text in saved.items():
        gone = [line for line in text.splitlines() if line.startswith("-A ") and _stale(line, links, networks)]
        if gone:
            script += [f"*{table}", *("-D " + line[3:] for line in gone), "COMMIT"]
    return "\n".join(script) + "\n" if script else ""


def _stale(rule: str, links: set[str], networks: list[ipaddress.IPv4Network] | None) -> bool:
    if any(name not in links for name in BRIDGE_NAME.findall(rule)):
        return True
    hairpin = HAIRPIN.search(rule)
    if not hairpin or networks is None:
        return False
    address = ipaddress.ip_address(hairpin.group(1))
    return any(address in lab for lab in LAB_ADDRESSES) and not any(address in net for net in networks)


def _links() -> set[str]:
    """The names of this machine's network interfaces."""
    try:
        return {entry.name for entry in Path("/sys/class/net").iterdir()}
    except OSError:
        return {
            line.split(":")[1].strip().split("@")[0]
            for line in _ip("-o", "link", "show").stdout.splitlines()
            if ":" in line
        }


def _used_networks() -> list[ipaddress.IPv4Network]:
    result = _ip("-4", "-o", "addr", "show")
    nets = []
    for line in result.stdout.splitlines():
        if " inet " in line:
            nets.append(ipaddress.ip_interface(line.split(" inet ")[1].split()[0]).network)
    for line in _ip("-4", "route", "show").stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if "/" in first:
            nets.append(ipaddress.ip_network(first, strict=False))
    return nets


def _free_subnet(start: int) -> str:
    """A /24 in 10.123.0.0/16 that no interface or route of this machine overlaps.

    The search starts at a place given by the lab home, so two labs started at once
    do not reach for the same subnet."""
    used = _used_networks()
    for offset in range(254):
        third = 1 + (start + offset) % 254
        candidate = ipaddress.ip_network(f"10.123.{third}.0/24")
        pool = ipaddress.ip_network(_address_pool(str(candidate)))
        if not any(candidate.overlaps(net) or pool.overlaps(net) for net in used):
            return str(candidate)
    raise EngineStartFailed("no free /24 subnet is left in 10.123.0.0/16 for its bridge", None)


def _address_pool(subnet: str) -> str:
    """User-defined networks of the managed engine: a /24 beside its bridge's."""
    third = ipaddress.ip_network(subnet).network_address.packed[2]
    return f"10.124.{third}.0/24"
