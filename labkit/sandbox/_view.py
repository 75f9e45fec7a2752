"""A sandbox's view of the machine: a mount namespace held open for it, where it sees an allow-list
(the system's programs and libraries, labkit's environment, its own folders), as a container's
root is; nothing of the class, no checkout, nothing outside it writable.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from ..errors import SandboxFailed
from ..machine import processes
from ._basics import BASE, PREFIX, q, sbin_path
from ._sandbox import Sandbox

log = logging.getLogger(__name__)


def hold_namespace(sb: Sandbox) -> None:
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
            env={**os.environ, "PATH": sbin_path()},
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
            f"if [ -d {q(cover)} ]; then "
            f"mount -t tmpfs -o size=1m,mode=0755,nosuid,nodev,ro {PREFIX}-hidden {q(cover)}; "
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


#: Binds a folder of the machine into a namespace made before it was known (a warm sandbox's learner):
#: a mount cannot be bound across mount namespaces, but a detached copy of it (open_tree) can be moved
#: into one (move_mount, Linux 5.2). Run in a process of its own: setns(CLONE_NEWNS) wants one thread.
_BIND_LATER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
source, namespace, target = (a.encode() for a in sys.argv[1:4])
AT_FDCWD, OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH, CLONE_NEWNS = -100, 1, 4, 0x00020000
L, S = ctypes.c_long, ctypes.c_char_p
tree = libc.syscall(L(428), L(AT_FDCWD), S(source), L(OPEN_TREE_CLONE | os.O_CLOEXEC))
if tree < 0:
    sys.exit(f"open_tree {source.decode()}: {os.strerror(ctypes.get_errno())}")
if libc.setns(os.open(namespace, os.O_RDONLY), CLONE_NEWNS) != 0:
    sys.exit(f"setns: {os.strerror(ctypes.get_errno())}")
if libc.syscall(L(429), L(tree), S(b""), L(AT_FDCWD), S(target), L(MOVE_MOUNT_F_EMPTY_PATH)) != 0:
    sys.exit(f"move_mount {target.decode()}: {os.strerror(ctypes.get_errno())}")
"""


def bind_later(sb: Sandbox, source: Path, target: Path) -> None:
    """`source` (a folder of the machine) bound at `target` in the sandbox's view, after it was made."""
    target.mkdir(parents=True, exist_ok=True)  # in the sandbox's own folder: the same in its view
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _BIND_LATER, str(source), f"/proc/{sb.holder.pid}/ns/mnt", str(target)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise SandboxFailed("binding the learner's folder into it", done.stderr.strip()[-400:])
