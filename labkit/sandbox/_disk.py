"""A sandbox's disk: a file system of its own (a sparse ext4 file of the disk limit, loop-mounted;
tmpfs where no loop device can be had) and the layout on it (home/, run/, tmp/, lab/, tun).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

from ..errors import SandboxFailed
from ._basics import BASE, PREFIX, run_as_root
from ._sandbox import Sandbox

log = logging.getLogger(__name__)


def make_disk(sb: Sandbox) -> None:
    """The sandbox's own file system, `disk` bytes at most."""
    sb.root.mkdir(mode=0o711)
    image = BASE / f"{sb.name}.img"
    try:
        with open(image, "wb") as f:
            f.truncate(sb.spec.limits.disk)
        # Thrown away after one submission, so no journal and no cache flushes: fsync (containerd's,
        # the registry's) then costs the loop device nothing (what each costs: docs/benchmarks.md).
        run_as_root(
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
        run_as_root(
            ["mount", "-o", "loop,nosuid,nobarrier", str(image), str(sb.root)], "mounting the sandbox's file system"
        )
        sb.loop = True
    except SandboxFailed:
        image.unlink(missing_ok=True)  # no loop device here (a container): memory, of the same size
        run_as_root(
            ["mount", "-t", "tmpfs", "-o", f"size={sb.spec.limits.disk},mode=0711,nosuid", PREFIX, str(sb.root)],
            "mounting the sandbox's file system",
        )
    finally:
        image.unlink(missing_ok=True)  # the loop device holds it open; gone with the mount
    os.chmod(sb.root, 0o711)
    (sb.root / "lost+found").exists() and shutil.rmtree(sb.root / "lost+found")


def lay_out(sb: Sandbox) -> None:
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


def unmount(root: Path) -> None:
    if not root.exists() or not os.path.ismount(root):
        return
    if subprocess.run(["umount", str(root)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "--lazy", str(root)], capture_output=True)
