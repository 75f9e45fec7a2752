"""Benchmark: how long `labkit up` takes cold and warm, and how big the base images are.

    make bench            (or: .venv/bin/python bench/setup.py)

Cold: an empty lab home and an empty build cache, so today's engine is fetched from
Debian's archive and started, the registries start, and the base images are built from
Debian packages. Warm: the same
lab, already up. Each is also put against a reference run in this script: cold
against plain `debootstrap` of the same Debian (the floor of building the base
images), warm against one `docker version` (the floor of asking whether an engine is
there). Everything runs in temporary folders and is stopped and removed at the end.

Targets on a 2-core machine: cold <= 120 s, warm <= 1 s, debian base <= 100 MB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"cold_s": 120.0, "warm_s": 1.0, "debian_mb": 100.0}
LABKIT = [sys.executable, "-m", "labkit"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "LABKIT_"))}
    env.update(
        LABKIT_HOME=str(work / "home"),
        LABKIT_CACHE=str(work / "cache"),
        LABKIT_OFFLINE="1",
        DOCKER_CONFIG=str(work / "docker-config"),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    try:
        mirror = os.environ.get("LABKIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        floor_cold = timed(["debootstrap", "--variant=minbase", "bookworm", str(work / "floor-rootfs"), mirror], env)
        shutil.rmtree(work / "floor-rootfs")
        cold = timed([*LABKIT, "up", "--managed"], env)
        warm = min(timed([*LABKIT, "up"], env) for _ in range(3))
        env["DOCKER_HOST"] = f"unix://{work / 'home' / 'engine' / 'docker.sock'}"
        engine = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}} {{.Driver}}"], env=env, capture_output=True, text=True
        ).stdout.split()
        floor_warm = min(timed(["docker", "version"], env) for _ in range(3))
        sizes = {}
        for ref in ("busybox:latest", "debian:bookworm-slim", "nginx:latest"):
            timed(["docker", "pull", "-q", ref], env)
            out = subprocess.run(
                ["docker", "image", "inspect", "-f", "{{.Size}}", ref],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            sizes[ref] = int(out) / 1e6
    finally:
        subprocess.run([*LABKIT, "down"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        (
            "labkit up, cold",
            f"{cold:6.1f} s",
            f"{cold / floor_cold:5.2f}x plain debootstrap ({floor_cold:.1f} s)",
            cold <= TARGETS["cold_s"],
            f"<= {TARGETS['cold_s']:.0f} s",
        ),
        (
            "labkit up, warm",
            f"{warm:6.2f} s",
            f"{warm / floor_warm:5.2f}x one `docker version` ({floor_warm:.2f} s)",
            warm <= TARGETS["warm_s"],
            f"<= {TARGETS['warm_s']:.0f} s",
        ),
    ]
    for ref, mb in sizes.items():
        ok = mb <= TARGETS["debian_mb"] if ref.startswith("debian") else True
        rows.append((f"size {ref}", f"{mb:6.1f} MB", "", ok, "<= 100 MB" if ref.startswith("debian") else ""))
    version, driver = (engine + ["?", "?"])[:2]
    store = "containerd image store" if driver == "overlayfs" else f"classic store ({driver})"
    print(f"engine: Docker {version}, {store}; cold includes fetching it into the empty cache")
    print(f"{'measure':24} {'value':>10}  {'ratio to the reference':44} {'target':10} ok")
    for name, value, ratio, ok, target in rows:
        print(f"{name:24} {value:>10}  {ratio:44} {target:10} {'yes' if ok else 'NO'}")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
