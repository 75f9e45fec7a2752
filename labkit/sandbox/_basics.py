"""What every part of a sandbox uses: where sandboxes live, their names, running a command as root,
and where its engine's programs are."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

from ..engines import FetchedEngine
from ..errors import SandboxFailed

#: Where sandboxes live: not under /tmp (bound over inside), nor /run (rootlesskit copies it up).
BASE = Path(os.environ.get("LABKIT_SANDBOXES", "/var/lib/labkit/sandboxes"))
#: Every sandbox's user, group, cgroup and folder: PREFIX-<pid of the run>-<number>.
PREFIX = "labkit-sb"
GiB = 2**30
START_TIMEOUT = 60.0


def sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])


def run_as_root(argv: list[str], what: str, attempts: int = 1) -> str:
    """Run a setup command as root; its output. /etc/passwd's lock is retried (another worker)."""
    for attempt in range(attempts):
        done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PATH": sbin_path()})
        if done.returncode == 0:
            return done.stdout
        if attempt + 1 < attempts and "lock" in done.stderr:
            time.sleep(0.05 * (attempt + 1))
            continue
        raise SandboxFailed(what, (done.stderr or done.stdout).strip() or f"exit status {done.returncode}")
    return ""


def q(path) -> str:
    return shlex.quote(str(path))


def engine_tree(engine: FetchedEngine) -> Path:
    """The folder the engine's programs were unpacked in (`/` for an installed one); LABKIT_DOCKERD
    may name the dockerd of an unpacked tree."""
    return engine.root or Path(os.path.realpath(engine.dockerd)).parents[2]


def engine_path(engine: FetchedEngine) -> str:
    """PATH inside: the engine's programs first (dockerd-rootless.sh runs the `dockerd` it finds), then
    the machine's."""
    tree = engine_tree(engine)
    first = [str(tree / "usr/sbin"), str(tree / "usr/bin")] if tree != Path("/") else [os.path.dirname(engine.dockerd)]
    rest = [d for d in "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".split(":") if d not in first]
    return ":".join([*first, *rest])
