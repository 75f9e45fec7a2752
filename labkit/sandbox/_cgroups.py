"""A control group around a whole sandbox: memory and process limits for everything in it (the
kernel, its engine, the engine's containers, its registries), what it used, which limit it hit,
and killing all of it at once.

cgroup v1 (one hierarchy per controller: `memory/`, `pids/`, as on Debian 12 with the kernel's
defaults) and v2 (one unified hierarchy with `memory.max`, `pids.max`). A process joins by writing
its pid into `cgroup.procs`; its children are born inside. Rootless engines on v1 have no cgroup
driver of their own ("Cgroup Driver: none"), so their containers stay in the group too.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
#: The folder every sandbox's group lives in, in each hierarchy.
PARENT = "labkit-sandboxes"


def version(root: Path = ROOT) -> int | None:
    """2 (unified), 1 (memory and pids hierarchies of their own), or None (neither usable)."""
    if (root / "cgroup.controllers").exists():
        return 2
    if (root / "memory").is_dir() and (root / "pids").is_dir():
        return 1
    return None


def missing_controllers(root: Path = ROOT) -> list[str]:
    """Of memory and pids, those this machine's cgroups lack."""
    v = version(root)
    if v == 1:
        return []
    if v == 2:
        have = (root / "cgroup.controllers").read_text().split()
        return [c for c in ("memory", "pids") if c not in have]
    return ["memory", "pids"]


@dataclass(frozen=True)
class Group:
    """One sandbox's group: `name` under PARENT in each hierarchy."""

    name: str
    root: Path = ROOT

    @functools.cached_property
    def v2(self) -> bool:
        """Read once: every file of the group is found through it, in the kill loop too."""
        return version(self.root) == 2

    def folders(self) -> list[Path]:
        """The group's folder in each hierarchy (v1: memory, pids, and freezer where there is one)."""
        if self.v2:
            return [self.root / PARENT / self.name]
        v1 = ["memory", "pids"] + (["freezer"] if (self.root / "freezer").is_dir() else [])
        return [self.root / c / PARENT / self.name for c in v1]

    def _file(self, controller: str, name: str) -> Path:
        if self.v2:
            return self.root / PARENT / self.name / name
        return self.root / controller / PARENT / self.name / name

    def create(self, memory: int, pids: int) -> None:
        """Make the group with its limits (swap included in the memory limit where it is counted)."""
        if self.v2:
            parent = self.root / PARENT
            parent.mkdir(exist_ok=True)
            _enable(self.root, ("memory", "pids"))
            _enable(parent, ("memory", "pids"))
        for folder in self.folders():
            folder.mkdir(parents=True, exist_ok=True)
        if self.v2:
            (self.folders()[0] / "memory.max").write_text(str(memory))
            swap = self.folders()[0] / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        else:
            self._file("memory", "memory.limit_in_bytes").write_text(str(memory))
            swap = self._file("memory", "memory.memsw.limit_in_bytes")
            if swap.exists():
                swap.write_text(str(memory))
        self._file("pids", "pids.max").write_text(str(pids))

    def join_commands(self) -> list[str]:
        """Shell commands that put the shell running them (`$$`) into the group."""
        return [f"echo $$ > {folder / 'cgroup.procs'}" for folder in self.folders()]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.folders():
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (FileNotFoundError, ValueError):
                pass
        return sorted(found)

    def kill_all(self, timeout: float = 10.0) -> bool:
        """SIGKILL every process in the group until none is left. It is frozen first (v2's
        cgroup.kill at once), so a fork bomb cannot outrun the kill."""
        if self.v2 and (self.folders()[0] / "cgroup.kill").exists():
            (self.folders()[0] / "cgroup.kill").write_text("1")
        self._freeze(True)
        deadline = time.monotonic() + timeout
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._freeze(False)  # a frozen process dies once thawed
            time.sleep(0.02)
            self._freeze(True)
        self._freeze(False)
        return not self.pids()

    def _freeze(self, on: bool) -> None:
        state = (
            (self.folders()[0] / "cgroup.freeze")
            if self.v2
            else (self.root / "freezer" / PARENT / self.name / "freezer.state")
        )
        try:
            state.write_text(("1" if on else "0") if self.v2 else ("FROZEN" if on else "THAWED"))
        except OSError:
            pass  # no freezer here: the kill loop alone

    def remove(self) -> None:
        for folder in self.folders():
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass

    # --- what it used --------------------------------------------------------------------
    def peak_memory(self) -> int | None:
        """The most memory the group used at once, in bytes (None where the kernel does not say)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return _number(self._file("memory", name))

    def own_memory(self) -> int | None:
        """The memory the group's programs hold now, in bytes: anonymous and resident, without the page
        cache of the files they read and wrote, which the machine's kernel takes back first when memory
        runs short (`docker stats` leaves that cache out too). None where the kernel does not say."""
        try:
            rows = dict(row.split() for row in self._file("memory", "memory.stat").read_text().splitlines())
        except (OSError, ValueError):
            return None
        own = rows.get("anon") if self.v2 else rows.get("total_rss")
        return int(own) if own is not None else None

    def limits_hit(self, memory: int, pids: int) -> list[str]:
        """Each limit the group ran into, in words."""
        hit: list[str] = []
        if self._events("memory", "memory.events" if self.v2 else "memory.oom_control").get("oom_kill", 0) > 0:
            hit.append(f"used more than {in_words(memory)} of memory (the machine's kernel stopped a process of it)")
        if self._events("pids", "pids.events").get("max", 0) > 0:
            hit.append(f"tried to run more than {pids:,} processes at once")
        return hit

    def _events(self, controller: str, name: str) -> dict[str, int]:
        try:
            text = self._file(controller, name).read_text()
        except OSError:
            return {}
        events: dict[str, int] = {}
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                events[key] = int(value)
        return events


def _enable(folder: Path, controllers: tuple[str, ...]) -> None:
    control = folder / "cgroup.subtree_control"
    have = control.read_text().split() if control.exists() else []
    for c in controllers:
        if c not in have:
            control.write_text(f"+{c}")


def _number(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def in_words(n: int) -> str:
    """A limit's bytes as a teacher wrote them: 2 GiB, 512 MiB."""
    gib = n / 2**30
    return f"{gib:g} GiB" if gib >= 1 else f"{n / 2**20:g} MiB"


def leftovers(root: Path = ROOT) -> list[Group]:
    """The sandbox groups on this machine (those of earlier runs included)."""
    folder = root / PARENT if version(root) == 2 else root / "pids" / PARENT
    try:
        return [Group(p.name, root) for p in folder.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return []
