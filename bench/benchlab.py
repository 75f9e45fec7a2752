"""A lab of a benchmark's own: in a temporary folder, base images from the build cache,
no Docker Hub probe; stopped and removed at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
LABKIT = [sys.executable, "-m", "labkit"]


@contextlib.contextmanager
def bench_lab(prefix: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """(its folder, the environment that points labkit and docker's config at it)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "LABKIT_"))}
    env.update(
        LABKIT_HOME=str(work / "home"),
        LABKIT_OFFLINE="1",
        DOCKER_CONFIG=str(work / "docker-config"),
        LABKIT_CACHE=os.environ.get("LABKIT_CACHE", str(REPO / ".cache" / "labkit")),
        PYTHONPATH=str(REPO),
    )
    try:
        subprocess.run([*LABKIT, "up", "--managed"], env=env, check=True, capture_output=True)
        yield work, env
    finally:
        subprocess.run([*LABKIT, "down"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
