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

import grp
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..engines import THROWAWAY_GOGC, Engine, FetchedEngine, docker_cli
from ..errors import SandboxFailed, SandboxUnavailable
from ..home import EngineState, LabPaths, PackagesState, RegistryState, State
from ..machine import processes
from ..registries import MIRROR, REGISTRY, package_source, programs
from . import _cgroups

log = logging.getLogger(__name__)

#: Where sandboxes live: not under /tmp (bound over inside), nor /run (rootlesskit copies it up).
BASE = Path(os.environ.get("LABKIT_SANDBOXES", "/var/lib/labkit/sandboxes"))
#: Every sandbox's user, group, cgroup and folder: PREFIX-<pid of the run>-<number>.
PREFIX = "labkit-sb"
GiB = 2**30
START_TIMEOUT = 60.0


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
            "PATH": _engine_path(self.spec.engine),
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


def _programs(engine: FetchedEngine) -> str:
    """EngineState.programs: the unpacked tree whose CLI and buildx plugin the kernel uses ("" for the machine's)."""
    tree = engine_tree(engine)
    return "" if tree == Path("/") else str(tree)


def _engine_path(engine: FetchedEngine) -> str:
    """PATH inside: the engine's programs first (dockerd-rootless.sh runs the `dockerd` it finds), then the machine's."""
    tree = engine_tree(engine)
    first = [str(tree / "usr/sbin"), str(tree / "usr/bin")] if tree != Path("/") else [os.path.dirname(engine.dockerd)]
    rest = [d for d in "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".split(":") if d not in first]
    return ":".join([*first, *rest])


# --- can one be made here? -----------------------------------------------------------------
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
    packages = sorted({pkg for prog, pkg in PROGRAMS.items() if not shutil.which(prog, path=_sbin_path())})
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


def engine_tree(engine: FetchedEngine) -> Path:
    """The folder the engine's programs were unpacked in (`/` for an installed one); LABKIT_DOCKERD
    may name the dockerd of an unpacked tree."""
    return engine.root or Path(os.path.realpath(engine.dockerd)).parents[2]


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])


def _number(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


# --- making one ----------------------------------------------------------------------------
def make(spec: Spec) -> Sandbox:
    """A running sandbox for `spec`; anything made on the way is taken down when a step fails."""
    if lacks := missing(spec.engine):
        raise SandboxUnavailable(lacks)
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o711)  # the user enters its own folder in there, and sees no other
    sandbox = None
    try:
        uid, gid = _add_user(spec.name)
        sandbox = Sandbox(spec, BASE / spec.name, uid, gid, _cgroups.Group(spec.name))
        sandbox.group.create(spec.limits.memory, spec.limits.pids)
        _make_disk(sandbox)
        _lay_out(sandbox)
        _hold_namespace(sandbox)
        _start_engine(sandbox)
        _start_registries(sandbox)
        _serve_packages(sandbox)
        if spec.offline:
            _cut_internet(sandbox)
        _write_state(sandbox)
        return sandbox
    except BaseException:
        if sandbox is not None:
            take_down(sandbox)
        else:
            _del_user(spec.name)
        raise


def _run(argv: list[str], what: str, attempts: int = 1) -> str:
    """Run a setup command as root; its output. /etc/passwd's lock is retried (another worker)."""
    for attempt in range(attempts):
        done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PATH": _sbin_path()})
        if done.returncode == 0:
            return done.stdout
        if attempt + 1 < attempts and "lock" in done.stderr:
            time.sleep(0.05 * (attempt + 1))
            continue
        raise SandboxFailed(what, (done.stderr or done.stdout).strip() or f"exit status {done.returncode}")
    return ""


def _add_user(name: str) -> tuple[int, int]:
    """A user with no login, no password and a home the sandbox makes; useradd gives it a range of
    subordinate ids (/etc/subuid) for its engine's user namespace."""
    for table in (Path("/etc/subuid"), Path("/etc/subgid")):
        if not table.exists():  # useradd fills them only where they exist
            table.touch(mode=0o644)
    _run(
        [
            "useradd",
            "--no-create-home",
            "--home-dir",
            str(BASE / name / "home"),
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            "--comment",
            "labkit sandbox",
            name,
        ],
        f"making the user {name}",
        attempts=100,
    )
    entry = pwd.getpwnam(name)
    if not any(line.split(":")[0] == name for line in Path("/etc/subuid").read_text().splitlines()):
        raise SandboxFailed(
            f"making the user {name}",
            "useradd gave it no subordinate ids in /etc/subuid (SUB_UID_COUNT in /etc/login.defs must not be 0)",
        )
    return entry.pw_uid, entry.pw_gid


def _del_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    _run(["userdel", name], f"removing the user {name}", attempts=100)
    try:
        grp.getgrnam(name)
        _run(["groupdel", name], f"removing the group {name}", attempts=100)
    except KeyError:
        pass


def _make_disk(sb: Sandbox) -> None:
    """The sandbox's own file system, `disk` bytes at most."""
    sb.root.mkdir(mode=0o711)
    image = BASE / f"{sb.name}.img"
    try:
        with open(image, "wb") as f:
            f.truncate(sb.spec.limits.disk)
        # Thrown away after one submission, so no journal and no cache flushes: fsync (containerd's,
        # the registry's) then costs the loop device nothing (what each costs: docs/benchmarks.md).
        _run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-m",
                "0",
                "-O",
                "^has_journal",
                "-E",
                "nodiscard,lazy_itable_init=1",
                str(image),
            ],
            "making the sandbox's file system",
        )
        _run(["mount", "-o", "loop,nosuid,nobarrier", str(image), str(sb.root)], "mounting the sandbox's file system")
        sb.loop = True
    except SandboxFailed:
        image.unlink(missing_ok=True)  # no loop device here (a container): memory, of the same size
        _run(
            ["mount", "-t", "tmpfs", "-o", f"size={sb.spec.limits.disk},mode=0711,nosuid", PREFIX, str(sb.root)],
            "mounting the sandbox's file system",
        )
    finally:
        image.unlink(missing_ok=True)  # the loop device holds it open; gone with the mount
    os.chmod(sb.root, 0o711)
    (sb.root / "lost+found").exists() and shutil.rmtree(sb.root / "lost+found")


def _lay_out(sb: Sandbox) -> None:
    for folder, mode, ours in (
        ("home", 0o700, True),
        ("home/workspace", 0o755, True),
        ("home/docker-config", 0o700, True),
        ("home/labkit", 0o700, True),
        ("home/labkit/registry", 0o700, True),
        ("run", 0o700, True),
        # The sandbox's /tmp and /dev/shm: only its user's processes use them, and
        # another sandbox must not reach them by name.
        ("tmp", 0o700, True),
        ("shm", 0o700, True),
        ("lab", 0o700, False),
        ("view", 0o700, False),
    ):
        path = sb.root / folder
        path.mkdir(mode=mode)
        os.chmod(path, mode)
        if ours:
            os.chown(path, sb.uid, sb.gid)
    os.mknod(sb.root / "tun", 0o600 | stat.S_IFCHR, os.makedev(10, 200))
    os.chown(sb.root / "tun", sb.uid, sb.gid)


def _hold_namespace(sb: Sandbox) -> None:
    """A root process in the sandbox's cgroup holding its mount namespace, whose root is the
    sandbox's view of the machine (`view_script`). Every command of the sandbox enters it."""
    argv = [*sb._joined(), "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", view_script(sb)]
    log_path = sb.root / "lab" / "namespace.log"
    with open(log_path, "wb") as log:
        sb.holder = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PATH": _sbin_path()},
        )
    if sb.holder.stdout.readline().strip() != b"ready":
        sb.holder.wait()
        raise SandboxFailed("making its view of the machine", processes.log_tail(log_path))


#: What of the machine a sandbox sees, read-only: the system's programs, libraries and settings (as a
#: container's root holds them). Top-level links (/bin -> usr/bin) are made as links.
SYSTEM_VIEW = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: The few devices a sandbox's programs use; /dev/pts, /dev/shm and /dev/net/tun are its own.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def view_script(sb: Sandbox) -> str:
    """The shell script that makes the sandbox's root, in its own mount namespace, and holds it.

    An allow-list, as a container's root is: a fresh file system holding only the system's programs,
    libraries and settings (`SYSTEM_VIEW`, read-only), what the sandbox runs (`Spec.expose`: this
    Python's environment, labkit's package, the engine's programs; read-only), the sandbox's own
    folder (and the folder it keeps, `Spec.kept`), a /proc of its own processes only, a few devices,
    and its own /tmp, /var/tmp, /dev/shm, /run and /run/lock. Nothing else of the machine is there:
    no checkout of the course (its notebooks hold the solutions), no other learner, no home folder,
    no lab. `Spec.hide` is covered besides, where it lies inside what is shown."""
    view = sb.root / "view"
    lines = ["set -e", f"mount -t tmpfs -o size=4m,mode=0755,nosuid,nodev {PREFIX}-root {q(view)}"]

    def inside(path: Path) -> Path:
        return view / str(path).lstrip("/")

    def bind(source: Path, target: Path, readonly: bool = False, recursive: bool = False) -> None:
        lines.append(
            f"mkdir -p {q(target)}" if source.is_dir() else f"mkdir -p {q(target.parent)} && touch {q(target)}"
        )
        lines.append(f"mount {'--rbind' if recursive else '--bind'} {q(source)} {q(target)}")
        if readonly:
            lines.append(f"mount -o remount,bind,ro {q(target)}")

    for top in map(Path, SYSTEM_VIEW):
        if top.is_symlink():
            lines.append(f"ln -s {q(os.readlink(top))} {q(inside(top))}")
        elif top.is_dir():
            bind(top, inside(top), readonly=True, recursive=True)
    own, dev = sb.root, view / "dev"
    lines += [
        # Its own processes only: not the grader's, whose command lines name the class's files.
        f"mkdir {q(view / 'proc')}",
        f"mount -t proc -o hidepid=invisible,nosuid,nodev,noexec proc {q(view / 'proc')}",
        f"mkdir {q(view / 'sys')}",
        f"mount --rbind /sys {q(view / 'sys')}",
        f"mkdir {q(dev)}",
        f"mount -t tmpfs -o size=64k,mode=0755,nosuid,noexec {PREFIX}-dev {q(dev)}",
        *[f"touch {q(dev / d)} && mount --bind /dev/{d} {q(dev / d)}" for d in DEVICES],
        f"mkdir {q(dev / 'pts')}",
        f"mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts {q(dev / 'pts')}",
        f"ln -s pts/ptmx {q(dev / 'ptmx')}",
        f"ln -s /proc/self/fd {q(dev / 'fd')}",
        *[f"ln -s /proc/self/fd/{n} {q(dev / name)}" for n, name in enumerate(("stdin", "stdout", "stderr"))],
        f"mkdir {q(dev / 'shm')}",
        f"mount --bind {q(own / 'shm')} {q(dev / 'shm')}",
        f"mkdir {q(dev / 'net')}",
        f"touch {q(dev / 'net/tun')}",
        f"mount --bind {q(own / 'tun')} {q(dev / 'net/tun')}",
        # Its own /tmp and /var/tmp (its user's alone), /run and /run/lock: a lab writes only in itself
        # (the machine's /run/lock is world-writable).
        f"mkdir {q(view / 'tmp')}",
        f"mount --bind {q(own / 'tmp')} {q(view / 'tmp')}",
        f"mkdir -p {q(view / 'var/tmp')}",
        f"mount --bind {q(own / 'tmp')} {q(view / 'var/tmp')}",
        f"ln -s /run {q(view / 'var/run')}",
        f"ln -s /run/lock {q(view / 'var/lock')}",
        f"mkdir {q(view / 'run')}",
        f"mount -t tmpfs -o size=1m,mode=0755,nosuid,nodev {PREFIX}-run {q(view / 'run')}",
        f"mkdir -m 1777 {q(view / 'run/lock')}",
    ]
    # What it runs, and its own folder: last, so that what lies under /tmp (a checkout there) is not
    # covered by the sandbox's own /tmp
    for path in _outermost(sb.spec.expose):
        if not any(path.is_relative_to(s) for s in map(Path, SYSTEM_VIEW)):
            bind(path, inside(path), readonly=True, recursive=True)
    bind(sb.root, inside(sb.root))  # not recursive: the view itself is mounted in there
    if sb.spec.kept is not None:
        bind(sb.spec.kept, inside(sb.kept))
    resolver = Path(os.path.realpath("/etc/resolv.conf"))
    if resolver.is_relative_to("/run") and resolver.exists():  # systemd-resolved's, through a link in /etc
        bind(resolver, inside(resolver), readonly=True)
    lines += [f"cd {q(view)}", "mkdir .old", "pivot_root . .old", "cd /", "umount -l /.old", "rmdir /.old"]
    for cover in _outermost(h for h in sb.spec.hide if hideable(h)):  # a hidden folder inside what is shown
        lines.append(
            f"if [ -d {q(cover)} ]; then mount -t tmpfs -o size=1m,mode=0755,nosuid,nodev,ro {PREFIX}-hidden {q(cover)}; "
            f"elif [ -e {q(cover)} ]; then mount --bind /dev/null {q(cover)}; fi"
        )
    lines += ["echo ready", "exec sleep infinity"]
    return "\n".join(lines)


#: What no folder to hide may be, nor lie in, nor hold: the system a sandbox runs on.
SYSTEM = tuple(
    map(
        Path,
        (
            "/usr",
            "/bin",
            "/sbin",
            "/lib",
            "/lib32",
            "/lib64",
            "/libx32",
            "/etc",
            "/proc",
            "/sys",
            "/dev",
            "/boot",
            "/run",
            "/var/lib/labkit/sandboxes",
        ),
    )
)


def hideable(path: Path) -> bool:
    """Whether `path` may be covered in a sandbox: not the system (SYSTEM, or a folder holding a part
    of it), whatever a submissions folder's link pointed at."""
    real = Path(os.path.realpath(path))
    return not any(real.is_relative_to(s) or s.is_relative_to(real) for s in (*SYSTEM, BASE))


def _outermost(paths) -> list[Path]:
    """The existing paths of `paths`, without those inside another (nor / itself), outermost first."""
    resolved = sorted({Path(os.path.realpath(p)) for p in paths if os.path.exists(p)}, key=lambda p: (len(p.parts), p))
    kept: list[Path] = []
    for p in resolved:
        if p != Path("/") and not any(p.is_relative_to(k) for k in kept):
            kept.append(p)
    return kept


def q(path) -> str:
    return shlex.quote(str(path))


def _start_engine(sb: Sandbox) -> None:
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
    if sb.spec.engine.current:
        args.append(f"--feature=containerd-snapshotter={'true' if sb.spec.store == 'containerd' else 'false'}")
        # No IPv6 rules: today's engine runs ip6tables beside iptables at every start, CPU paid for
        # every sandbox (docs/benchmarks.md), for networks no submission gets.
        args.append("--ip6tables=false")
    env = {
        **sb.base_env(),
        "DOCKERD_ROOTLESS_ROOTLESSKIT_NET": "slirp4netns",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER": "builtin",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK": "true",
        "GOGC": THROWAWAY_GOGC,
    }  # it lives for one submission
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


def _start_registries(sb: Sandbox) -> None:
    """The course registry (its own, with a login) and the view of the class's mirror, as root in the
    engine's network namespace, each published on the machine's loopback under the same port."""
    paths = sb.paths
    mirror_dir = paths.registry_dir(MIRROR.name)
    mirror_dir.mkdir(parents=True)
    (mirror_dir / "data").symlink_to(sb.spec.mirror_data)
    registry_port = processes.free_port()
    if sb.spec.seeded is not None:
        shutil.copytree(sb.spec.seeded, programs.data_dir(paths, REGISTRY))
    for kind, port in ((REGISTRY, registry_port), (MIRROR, sb.state.mirror.port)):
        _run(
            [
                "rootlessctl",
                f"--socket={sb.run_dir / 'dockerd-rootless' / 'api.sock'}",
                "add-ports",
                f"127.0.0.1:{port}:{port}/tcp",
            ],
            f"publishing its {kind.title}",
        )
        part = programs.start_at(paths, kind, port, wrap=sb.in_network, readonly=kind is MIRROR)
        if kind is REGISTRY:
            sb.state.registry = part
        else:
            sb.state.mirror = part


def _serve_packages(sb: Sandbox) -> None:
    """Its Debian package source (`registries.package_source`), as root in the engine's network namespace, where the
    engine's containers reach it on their bridge's gateway: the class's store read, what it fetches
    (online) kept on the sandbox's own disk; named in the user's client configuration."""
    if sb.spec.packages is None:
        return
    with Engine(sb.host, timeout=30) as engine:
        gateway = engine.bridge_gateway()
    if not gateway:
        return
    port = processes.free_port()
    store = sb.root / "lab" / "packages"
    package_source.start(
        store,
        "0.0.0.0",
        port,
        sb.root / "lab" / "packages.log",
        offline=sb.spec.offline,
        wrap=sb.in_network,
        shared=sb.spec.packages,
        namespace_of=sb.engine_child,
    )
    sb.state.packages = PackagesState(address=gateway, port=port)
    docker_cli.offer_packages(sb.docker_config, sb.state.packages.url)
    os.chown(sb.docker_config / "config.json", sb.uid, sb.gid)


def _cut_internet(sb: Sandbox) -> None:
    """Nothing of the sandbox reaches the internet: its engine's namespace (the kernel, the registries,
    the package source, its containers) leaves it only through slirp4netns, a process of the
    sandbox's user in the machine's own network namespace; there, root's rules refuse that user
    everything but the machine's loopback (where rootlesskit's published ports answer). Inside its
    own namespaces the user is root of its network, so rules there it could undo; these it cannot."""
    for tool in ("iptables", "ip6tables"):
        program = shutil.which(tool, path=_sbin_path())
        if program:
            _run(
                [
                    program,
                    "-w",
                    "-I",
                    "OUTPUT",
                    "1",
                    "-m",
                    "owner",
                    "--uid-owner",
                    str(sb.uid),
                    "!",
                    "-o",
                    "lo",
                    "-m",
                    "comment",
                    "--comment",
                    sb.name,
                    "-j",
                    "REJECT",
                ],
                "cutting it from the internet",
            )


def _forget_cut(name: str) -> None:
    """The rules `_cut_internet` made for the sandbox `name` (its uid may be another user's next)."""
    for tool in ("iptables", "ip6tables"):
        program = shutil.which(tool, path=_sbin_path())
        if not program:
            continue
        listed = subprocess.run([program, "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
        for rule in listed.splitlines():
            words = shlex.split(rule)
            if words[:2] == ["-A", "OUTPUT"] and "--comment" in words and words[words.index("--comment") + 1] == name:
                subprocess.run([program, "-w", "-D", *words[1:]], capture_output=True)


def _write_state(sb: Sandbox) -> None:
    """The grader's state of this lab, and the kernel's copy: the registries run by another (up when
    they answer), and the password in a file the user may read."""
    sb.state.save(sb.paths)
    copy = State(
        engine=sb.state.engine,
        registry=RegistryState(port=sb.state.registry.port, user=sb.state.registry.user, borrowed=True),
        mirror=RegistryState(port=sb.state.mirror.port, borrowed=True),
    )
    kernel_paths = LabPaths(home=sb.kernel_home, cache=sb.kernel_home / "cache")
    copy.save(kernel_paths)
    password = kernel_paths.password_file
    password.write_text(programs.password(sb.paths) + "\n")
    for path in (kernel_paths.state_file, password):
        os.chown(path, sb.uid, sb.gid)
    os.chmod(password, 0o600)


# --- taking one down -----------------------------------------------------------------------
def take_down(sb: Sandbox) -> None:
    """Every process of it (the kernel, the engine and its containers, the registries, the namespace's
    holder) killed at once through its cgroup; then its file system, cgroup and user removed."""
    sb.group.kill_all()
    for proc in (sb.holder, sb.engine_proc):
        if proc is not None:
            proc.poll()
    _unmount(sb.root)
    shutil.rmtree(sb.root, ignore_errors=True)
    sb.group.remove()
    if sb.spec.offline:
        _forget_cut(sb.name)
    _del_user(sb.name)


def _unmount(root: Path) -> None:
    if not root.exists() or not os.path.ismount(root):
        return
    if subprocess.run(["umount", str(root)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "--lazy", str(root)], capture_output=True)


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
            _unmount(BASE / name)
            shutil.rmtree(BASE / name, ignore_errors=True)
            (BASE / f"{name}.img").unlink(missing_ok=True)
            group.remove()
            _forget_cut(name)
            _del_user(name)
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
