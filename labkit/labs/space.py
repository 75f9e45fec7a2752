"""Free space where the lab keeps its data: the lab home, and the engine's storage.

A full disk makes `docker build` and `docker pull` fail with "no space left on device";
the check after it would then blame the learner ("there is no image … yet"). So a check
that fails while either place is nearly full is a lab problem, and `labkit status` says
so, with what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..engines import EngineInfo, dockerd
from ..home import EngineState, LabPaths

#: Less than this free counts as nearly full: a pull of nginx or one build of the course needs
#: a few hundred MB.
LOW = 1 << 30

REMEDY = (
    "free some space: `labkit reset` removes what the course created, and `docker system df` shows "
    "what takes the engine's space"
)


@dataclass(frozen=True)
class LowSpace:
    what: str
    path: Path
    free: int

    def __str__(self) -> str:
        return f"{self.what} ({self.path}) has only {human(self.free)} free"


def human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} GiB"


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on `path`'s file system; None where it cannot be read."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def places(paths: LabPaths, engine: EngineState, info: EngineInfo | None = None) -> dict[str, Path]:
    """Where the lab writes: its home, and the engine's storage when it is on this machine (a managed
    engine's data root; a local engine's DockerRootDir, not one inside Docker Desktop's VM)."""
    found = {"the lab home": paths.home}
    if engine.managed:
        found["the engine's storage"] = dockerd.layout(paths).data_root
    elif info is not None and info.root_dir and engine.host.startswith("unix://") and os.path.isdir(info.root_dir):
        found["the engine's storage"] = Path(info.root_dir)
    return found


def low_space(where: dict[str, Path], minimum: int = LOW) -> list[LowSpace]:
    """The places with less than `minimum` free, or an eighth of their file system where it is small
    (a grading sandbox's disk of 1 GiB is not nearly full when empty)."""
    lows = []
    for what, path in where.items():
        free = free_bytes(path)
        if free is not None and free < min(minimum, _size(path) // 8):
            lows.append(LowSpace(what, path, free))
    return lows


def _size(path: Path) -> int:
    try:
        stats = os.statvfs(path)
    except OSError:
        return 0
    return stats.f_blocks * stats.f_frsize


def problem(lows: list[LowSpace]) -> str:
    """What the learner is told: which place is nearly full, how much is free, what to do."""
    return f"The disk is nearly full: {'; '.join(map(str, lows))}. Builds and pulls fail then: {REMEDY}."
