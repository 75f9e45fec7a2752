"""A sandbox's user: a throwaway unprivileged account of its own (and its subordinate ids, for its
rootless engine), made and removed as root.
"""

from __future__ import annotations

import grp
import logging
import pwd
from pathlib import Path

from ..errors import SandboxFailed
from ._basics import BASE, run_as_root

log = logging.getLogger(__name__)


def add_user(name: str) -> tuple[int, int]:
    """A user with no login, no password and a home the sandbox makes; useradd gives it a range of
    subordinate ids (/etc/subuid) for its engine's user namespace."""
    for table in (Path("/etc/subuid"), Path("/etc/subgid")):
        if not table.exists():  # useradd fills them only where they exist
            table.touch(mode=0o644)
    run_as_root(
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


def del_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    run_as_root(["userdel", name], f"removing the user {name}", attempts=100)
    try:
        grp.getgrnam(name)
        run_as_root(["groupdel", name], f"removing the group {name}", attempts=100)
    except KeyError:
        pass
