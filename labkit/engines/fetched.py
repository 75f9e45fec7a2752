"""Today's Docker Engine for a managed lab, from Debian's own packaging of Docker.

The engine Debian 12 installs (20.10) is one a learner will never meet again: today's
engines (28 and newer) build with BuildKit and, fresh, keep images in containerd's store.
So labkit fetches Debian's packages of a current engine (docker.io, docker-cli, containerd,
docker-buildx, and tini-static for docker-init) from the newest suite that carries one, with
apt under a configuration of its own (its own sources, lists and caches in the lab's cache:
the machine's sources and packages are untouched; apt checks the archive's signatures with
Debian's keyring), and unpacks them into the cache, not into the system. The machine's runc
serves them (the suite's own needs a newer C library than Debian 12's).

In order: a current dockerd already installed (used as it is); the one unpacked in the cache
(checked: a damaged or half-made one is fetched again); a fresh fetch; else none, and the lab
falls back to the installed engine and says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineFetchFailed
from ..machine import Watcher, debian_mirror

#: The newest Debian suite that carries Engine 28 or newer (unstable: 28.5 when this was written).
SUITE = "sid"
PACKAGES = ("docker.io", "docker-cli", "containerd", "docker-buildx", "tini-static")
#: The oldest engine that counts as current: BuildKit by default, and the containerd image store.
MINIMUM = 28
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
#: Written last, into a complete unpacked engine: what was fetched, and the files that must be there.
STAMP = "labkit-engine.json"
BINARIES = (
    "usr/sbin/dockerd",
    "usr/bin/docker",
    "usr/bin/containerd",
    "usr/bin/containerd-shim-runc-v2",
    "usr/sbin/docker-proxy",
    "usr/bin/docker-init",
    "usr/libexec/docker/cli-plugins/docker-buildx",
)
FETCH_TIMEOUT = 600
#: The first Engine whose CLI builds with BuildKit (buildx) by default; an older one's built with the legacy builder.
BUILDX_DEFAULT = 23


@dataclass(frozen=True)
class FetchedEngine:
    """A current dockerd and its programs: unpacked under `root`, or installed (`root` None)."""

    version: str
    root: Path | None = None
    program: str = ""  # an installed dockerd named by LABKIT_DOCKERD
    plugins: Path | None = None  # for that one, where older than 23: the cached engine's buildx plugin folder

    @property
    def dockerd(self) -> str:
        if self.root:
            return str(self.root / "usr/sbin/dockerd")
        return self.program or shutil.which("dockerd") or "dockerd"

    @property
    def current(self) -> bool:
        """Engine 28 or newer: BuildKit, and the containerd image store."""
        return major(self.version) >= MINIMUM

    @property
    def bin_dirs(self) -> list[Path]:
        """What goes first on PATH for dockerd (its containerd, shim, docker-proxy, docker-init) and for the CLI."""
        return [self.root / "usr/sbin", self.root / "usr/bin"] if self.root else []

    @property
    def cli_plugins(self) -> Path | None:
        return self.root / "usr/libexec/docker/cli-plugins" if self.root else self.plugins

    def path(self, base: str) -> str:
        return os.pathsep.join([*map(str, self.bin_dirs), base]) if self.bin_dirs else base


def folder(cache: Path) -> Path:
    return cache / "engine"


def major(version: str) -> int:
    """28 of "28.5.2+dfsg4" (0 when it cannot be read)."""
    found = re.match(r"\s*(\d+)\.", version)
    return int(found.group(1)) if found else 0


def dockerd_version(program: str, env: dict[str, str] | None = None) -> str:
    """The version `dockerd --version` reports ("" when it does not run)."""
    try:
        said = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.search(r"version (\S+?),", said)
    return found.group(1) if found else ""


def installed() -> FetchedEngine | None:
    """A current dockerd installed on this machine (Docker CE, a newer Debian): used as it is."""
    program = shutil.which("dockerd")
    version = dockerd_version(program) if program else ""
    return FetchedEngine(version) if major(version) >= MINIMUM else None


def cached(cache: Path) -> FetchedEngine | None:
    """The engine unpacked in the cache, if it is whole: its stamp, its programs, and a dockerd that runs."""
    root = folder(cache) / "root"
    try:
        stamp = json.loads((folder(cache) / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or any(not (root / name).is_file() for name in BINARIES):
        return None
    version = dockerd_version(str(root / "usr/sbin/dockerd"))
    if major(version) < MINIMUM or version != stamp.get("version"):
        return None
    return FetchedEngine(version, root)


def fetch(cache: Path, watcher: Watcher) -> FetchedEngine:
    """Download Debian's packages of the current engine with a private apt configuration and unpack
    them into the cache. What was there (damaged, half-made) is replaced; raises EngineFetchFailed."""
    base = folder(cache)
    work = base / "partial"
    shutil.rmtree(work, ignore_errors=True)
    apt = _private_apt(work / "apt")
    debs, root = work / "debs", work / "root"
    debs.mkdir(parents=True)
    with watcher.step(f"Fetching Docker Engine {MINIMUM}+ from Debian ({SUITE}: {', '.join(PACKAGES)})") as update:
        update("apt-get update")
        _apt(apt, ["update"], work)
        update("apt-get download")
        _apt(apt, ["download", *PACKAGES], debs)
        for deb in sorted(debs.glob("*.deb")):
            update(f"unpacking {deb.name}")
            _run(["dpkg-deb", "-x", str(deb), str(root)], work, f"{deb.name} could not be unpacked")
    version = dockerd_version(str(root / "usr/sbin/dockerd"))
    missing = [name for name in BINARIES if not (root / name).is_file()]
    if missing or major(version) < MINIMUM:
        why = (
            f"the packages lack {', '.join(missing)}"
            if missing
            else f"their dockerd is {version or 'not runnable here'}"
        )
        raise EngineFetchFailed(_archive(), why)
    shutil.rmtree(base / "root", ignore_errors=True)
    (base / STAMP).unlink(missing_ok=True)
    os.replace(root, base / "root")
    (base / STAMP).write_text(json.dumps({"version": version, "suite": SUITE, "packages": list(PACKAGES)}) + "\n")
    shutil.rmtree(work, ignore_errors=True)  # the lists and packages: what is kept is what runs
    return FetchedEngine(version, base / "root")


def at_hand(cache: Path) -> FetchedEngine | None:
    """The engine to run without fetching one: LABKIT_DOCKERD's, an installed current one, the cached one."""
    chosen = os.environ.get("LABKIT_DOCKERD")
    if chosen:
        version = dockerd_version(chosen)
        spare = cached(cache) if major(version) < BUILDX_DEFAULT else None
        return FetchedEngine(version, None, chosen, spare.cli_plugins if spare else None)
    return installed() or cached(cache)


def choose(cache: Path, watcher: Watcher) -> tuple[FetchedEngine | None, list[str]]:
    """The current engine for a managed lab, and what the user should know; None: use the installed one.
    LABKIT_DOCKERD names the dockerd to run instead (e.g. Debian 12's 20.10, as a learner may still have)."""
    engine = at_hand(cache)
    if engine is not None:
        return engine, []
    try:
        return fetch(cache, watcher), []
    except EngineFetchFailed as e:
        return None, [f"{e.message} The lab uses this machine's installed Docker engine instead; {e.next_step}"]


def _archive() -> str:
    return f"{debian_mirror()} ({SUITE})"


def _private_apt(where: Path) -> Path:
    """An apt configuration of labkit's own: its sources, lists, caches and (empty) package status."""
    for sub in (
        "etc/sources.list.d",
        "etc/preferences.d",
        "etc/apt.conf.d",
        "state/lists/partial",
        "cache/archives/partial",
    ):
        (where / sub).mkdir(parents=True, exist_ok=True)
    (where / "state/status").touch()
    (where / "etc/sources.list").write_text(f"deb [signed-by={KEYRING}] {debian_mirror()} {SUITE} main\n")
    settings = {
        "Dir::State": where / "state",
        "Dir::State::status": where / "state/status",
        "Dir::Cache": where / "cache",
        "Dir::Etc::sourcelist": where / "etc/sources.list",
        "Dir::Etc::sourceparts": where / "etc/sources.list.d",
        "Dir::Etc::preferences": where / "etc/preferences",
        "Dir::Etc::preferencesparts": where / "etc/preferences.d",
        "Dir::Etc::parts": where / "etc/apt.conf.d",
    }
    lines = [f'{key} "{value}";' for key, value in settings.items()]
    arch = _architecture()
    lines += [
        f'APT::Architecture "{arch}";',
        f'APT::Architectures {{ "{arch}"; }};',
        'Acquire::Languages "none";',
        # A suite's Release file says until when it is fresh; a mirror's snapshot may be older than
        # that. Its signature is checked all the same.
        'Acquire::Check-Valid-Until "false";',
    ]
    if os.geteuid() == 0:
        lines.append('APT::Sandbox::User "root";')  # the download folders are ours, not _apt's
    config = where / "apt.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def _architecture() -> str:
    """Debian's name of this machine's architecture (amd64, arm64): the engine's packages are for it."""
    try:
        return subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def _apt(config: Path, args: list[str], cwd: Path) -> None:
    if not shutil.which("apt-get") or not KEYRING.is_file():
        raise EngineFetchFailed(_archive(), "this machine has no apt-get or no Debian archive keyring")
    env = {**os.environ, "APT_CONFIG": str(config), "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "-q", *args], cwd, f"`apt-get {args[0]}` failed", env)


def _run(argv: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EngineFetchFailed(_archive(), f"{what}: {e}") from e
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise EngineFetchFailed(_archive(), f"{what}: {said[-1] if said else f'exit status {done.returncode}'}")


def main(argv: list[str]) -> int:
    """`python -m labkit.engines.fetched CACHE`: fetch and unpack the engine into CACHE, print the
    unpacked tree (the single-user image's build copies it into the image's /usr)."""
    try:
        print(fetch(Path(argv[0]), Watcher()).root)
    except EngineFetchFailed as e:
        print(f"labkit: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
