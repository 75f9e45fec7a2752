"""Support for the learner's-own-engine tests: an ordinary user, an engine that user may use, and
labkit run as that user with a PATH that has no docker-registry, debootstrap nor dockerd."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Programs on the machine's PATH that the learner's must not have (dockerd and debootstrap are in
#: /usr/sbin, which the learner's PATH leaves out).
HIDDEN = ("docker-registry", "dockerd", "debootstrap")


def _blocker(path: Path) -> Path | None:
    """The first folder on the way to `path` that others may not enter (pyenv's Python under a 0700
    /root), or None."""
    for ancestor in list(reversed(path.parents))[1:]:
        try:
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                return ancestor
        except OSError:
            return None
    return None


def add_user(name: str, home: Path, group: str) -> int:
    for table in (
        Path("/etc/subuid"),
        Path("/etc/subgid"),
    ):  # useradd gives subordinate ids (rootless Docker) only where they exist
        if not table.exists():
            table.touch(mode=0o644)
    subprocess.run(["groupadd", "-f", group], check=True)
    subprocess.run(
        ["useradd", "-M", "-d", str(home), "-s", "/bin/sh", "-U", "-G", group, name], check=True, capture_output=True
    )
    home.mkdir(parents=True, exist_ok=True)
    uid = pwd.getpwnam(name).pw_uid
    os.chown(home, uid, pwd.getpwnam(name).pw_gid)
    home.chmod(0o700)
    return uid


def remove_user(name: str, group: str) -> None:
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["groupdel", group], capture_output=True)


def bin_folder(where: Path, docker_cli: str) -> Path:
    """A PATH folder with the docker CLI only (and sh's tools come from /usr/bin, /bin)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "docker").symlink_to(docker_cli)
    where.chmod(0o755)
    return where


def command(
    user: str, argv: list[str], env: dict[str, str], stage: Path, groups: bool = True, tun: Path | None = None
) -> list[str]:
    """`argv` as `user`, in a mount namespace where this Python and the repository are reachable even
    where they sit under a folder only root may enter (pyenv in /root): bound back over a fresh one."""
    needed = sorted({Path(os.path.realpath(sys.base_prefix)), Path(os.path.realpath(sys.prefix)), REPO})
    blocked = [(p, b) for p in needed if (b := _blocker(p)) is not None]
    lines = ["set -e"]
    for i, (path, _b) in enumerate(blocked):
        lines += [f"mkdir -p {stage}/{i}", f"mount --bind {shlex.quote(str(path))} {stage}/{i}"]
    for blocker in sorted({b for _p, b in blocked}):
        lines.append(f"mount -t tmpfs -o mode=0755,size=1m labkit-test {shlex.quote(str(blocker))}")
    for i, (path, _b) in enumerate(blocked):
        lines += [f"mkdir -p {shlex.quote(str(path))}", f"mount --move {stage}/{i} {shlex.quote(str(path))}"]
    if tun is not None:  # a usable /dev/net/tun for rootless Docker (0600 on this machine, 0666 where udev runs)
        lines.append(f"mount --bind {shlex.quote(str(tun))} /dev/net/tun")
    for program in HIDDEN:  # what a learner's machine does not have
        if shutil.which(program, path="/usr/local/bin:/usr/bin:/bin"):
            lines.append(f"mount --bind /dev/null {shutil.which(program, path='/usr/local/bin:/usr/bin:/bin')}")
    entry = pwd.getpwnam(user)
    variables = [f"{k}={v}" for k, v in {"HOME": entry.pw_dir, "USER": user, **env}.items()]
    lines.append(
        f"exec setpriv --reuid={entry.pw_uid} --regid={entry.pw_gid} {'--init-groups' if groups else '--clear-groups'} "
        f"env -i {shlex.join(variables)} {shlex.join(argv)}"
    )
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", "\n".join(lines)]
