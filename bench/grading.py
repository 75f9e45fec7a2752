"""Benchmark: grading a class of 30 capstones, in sandboxes and without.

    .venv/bin/python bench/grading.py [N]

A lab of its own is started in a temporary home. N (default 30) copies of 08-capstone,
alternately the worked solution and the released notebook with nothing done, are graded in
sandboxes (the default) and with `--no-sandbox`, each with `--jobs 1` and `--jobs 2`, in the order
1S 1U 2S 2U 2U 2S 1U 1S (S sandboxed, U not): each kind runs twice, placed symmetrically, so a
steady drift in this machine's speed cancels out of every ratio. A reference first: the same
notebooks run one after the other with plain nbclient in one lab (reset between them).
Reported: seconds per submission of each kind; sandboxed over unsandboxed (target at most 1.25x,
at both --jobs); the speed-up of --jobs 2, sandboxed (target at least 1.5x); the grader over plain
nbclient (target at most 1.15x, unsandboxed); each sandbox's peak memory (target at most 400 MB for
kernel, engine and registries together: their own memory, sampled every 50 ms, as `docker stats`
counts a container's; the cgroup's peak, which adds the page cache of the files they wrote, is
printed beside it); the time to make and to take down one sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from benchlab import LABKIT as labkit  # noqa: E402
from benchlab import bench_lab  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

TARGET_OVERHEAD, TARGET_SPEEDUP, TARGET_SANDBOX, TARGET_PEAK_MB = 1.15, 1.5, 1.25, 400
ORDER = ((1, True), (1, False), (2, True), (2, False), (2, False), (2, True), (1, False), (1, True))


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with bench_lab("labkit-bench-grading-") as (work, env):
        os.environ.update(env)
        from labkit.course import LabContext
        from labkit.course.release import release
        from labkit.course.reset import reset
        from labkit.home import LabPaths
        from labkit.labs.lifecycle import env as lab_env

        release(REPO / "notebooks", work / "released")
        subs = work / "subs"
        subs.mkdir()
        expected = {}  # every submission's score, known beforehand: a plausible wrong one must not pass
        for i in range(count):
            source = REPO / "notebooks" / "08-capstone.ipynb" if i % 2 == 0 else work / "released" / "08-capstone.ipynb"
            shutil.copy(source, subs / f"learner{i:03d}-08-capstone.ipynb")
            expected[f"learner{i:03d}-08-capstone"] = 10 if i % 2 == 0 else 0

        paths = LabPaths.from_env()
        plain_env = {**env, **lab_env(paths), "LABKIT_PASSWORD_FILE": str(paths.password_file)}
        os.environ.update(plain_env)
        start = time.perf_counter()
        for path in sorted(subs.glob("*.ipynb")):
            space = Path(tempfile.mkdtemp(dir=work))
            ctx = LabContext.from_env(space)
            reset(ctx)
            ctx.close()
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb, timeout=600, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(space)}}
            ).execute()
        plain = time.perf_counter() - start
        for name in [k for k in os.environ if k.startswith("DOCKER_")]:
            del os.environ[name]

        make_s, down_s = sandbox_lifetimes(paths)
        timings: dict[tuple[int, bool], float] = {kind: 0.0 for kind in ORDER}
        inside: dict[tuple[int, bool], float] = {kind: 0.0 for kind in ORDER}
        peaks, own_peaks, wrong, runs = [], [], [], []
        for round_, (jobs, sandboxed) in enumerate(ORDER):
            out = work / f"grades-{round_}"
            start = time.perf_counter()
            with OwnMemory() as own:
                subprocess.run(
                    [
                        *labkit,
                        "grade",
                        str(subs),
                        "--out",
                        str(out),
                        "--jobs",
                        str(jobs),
                        *([] if sandboxed else ["--no-sandbox"]),
                    ],
                    env=env,
                    capture_output=True,
                    check=False,
                )
            took = time.perf_counter() - start
            own_peaks += own.peaks()
            timings[(jobs, sandboxed)] += took / 2
            runs.append(f"{jobs}{'S' if sandboxed else 'U'} {took:.1f} s")
            rows = json.loads((out / "report.json").read_text())["submissions"]
            inside[(jobs, sandboxed)] += sum(r["seconds"] for r in rows) / 2
            wrong += [
                f"{runs[-1].split()[0]} {r['name']}: {r['status']} {r['points']:g} (expected {expected[r['name']]}) "
                f"{r['problem'] or '; '.join(r['events'])[:200]}"
                for r in rows
                if r["status"] != "graded" or r["points"] != expected[r["name"]]
            ]
            peaks += [r["peak_memory_mb"] for r in rows if r.get("peak_memory_mb")]
    per = {kind: t / count for kind, t in timings.items()}
    sandbox_cost = {jobs: per[(jobs, True)] / per[(jobs, False)] for jobs in (1, 2)}
    speedup = timings[(1, True)] / timings[(2, True)]
    overhead = timings[(1, False)] / plain
    ok = (
        not wrong
        and all(c <= TARGET_SANDBOX for c in sandbox_cost.values())
        and speedup >= TARGET_SPEEDUP
        and overhead <= TARGET_OVERHEAD
        and (not own_peaks or max(own_peaks) <= TARGET_PEAK_MB)
    )
    print(f"{count} capstones (half correct); each kind of run twice, in the order {', '.join(runs)}")
    print(f"plain nbclient, one lab, reset between: {plain:7.1f} s  ({plain / count:5.2f} s per notebook)")
    for jobs in (1, 2):
        print(
            f"--jobs {jobs}: sandboxed {per[(jobs, True)]:5.2f} s per submission, "
            f"unsandboxed {per[(jobs, False)]:5.2f} s: {sandbox_cost[jobs]:.2f}x "
            f"(target <= {TARGET_SANDBOX}x){'' if sandbox_cost[jobs] <= TARGET_SANDBOX else '  MISSED'}"
            f"   (in submissions {inside[(jobs, True)] / jobs:.1f} s and {inside[(jobs, False)] / jobs:.1f} s a worker)"
        )
    print(
        f"--jobs 2 over --jobs 1, sandboxed: {speedup:.2f}x faster "
        f"(target >= {TARGET_SPEEDUP}x){'' if speedup >= TARGET_SPEEDUP else '  MISSED'}"
    )
    print(
        f"unsandboxed --jobs 1 over plain nbclient: {overhead:.2f}x "
        f"(target <= {TARGET_OVERHEAD}x){'' if overhead <= TARGET_OVERHEAD else '  MISSED'}"
    )
    if own_peaks:
        print(
            "a sandbox's peak memory (kernel, engine, registries: their own): "
            f"median {statistics.median(own_peaks):.0f} MB, most {max(own_peaks):.0f} MB "
            f"(target <= {TARGET_PEAK_MB} MB){'' if max(own_peaks) <= TARGET_PEAK_MB else '  MISSED'}"
        )
    if peaks:
        print(
            f"   with the page cache of their files (the cgroup's peak): median {statistics.median(peaks):.0f} MB, "
            f"most {max(peaks)} MB"
        )
    print(f"one sandbox: made in {make_s:.2f} s, taken down in {down_s:.2f} s (median of 5)")
    if wrong:  # a grading lab that is broken must not hide behind a partial score that looks right
        print(
            f"{len(wrong)} submission(s) did not score as expected (the worked solution 10, the untouched notebook 0):"
        )
        for line in wrong:
            print(f"   WRONG {line}")
    else:
        print(
            f"every submission scored as expected in all {len(ORDER)} runs "
            "(the worked solution 10, the untouched notebook 0)"
        )
    return 0 if ok else 1


class OwnMemory:
    """While a grading run lasts: each sandbox's own memory (`_cgroups.Group.own_memory`) at its highest,
    sampled every 50 ms (the cgroup itself keeps only its peak with the page cache)."""

    def __init__(self) -> None:
        self._most: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "OwnMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peaks(self) -> list[float]:
        return [most / 2**20 for most in self._most.values()]

    def _sample(self) -> None:
        from labkit.sandbox import _cgroups

        while not self._stop.wait(0.05):
            for group in _cgroups.leftovers():  # every sandbox group on the machine
                own = group.own_memory()
                if own and own > self._most.get(group.name, 0):
                    self._most[group.name] = own


def sandbox_lifetimes(paths) -> tuple[float, float]:
    """Median seconds to make one sandbox (as the grader does, base layers copied in) and to take it down."""
    from labkit import sandbox
    from labkit.course import catalog
    from labkit.home import State
    from labkit.labs import fresh
    from labkit.registries import programs

    state = State.load(paths)
    sandboxing = fresh.Sandboxing(
        sandbox.Limits(), programs.data_dir(paths, programs.MIRROR), (paths.home,), os.getpid()
    )
    seeded = fresh.seeded_registry(
        Path(tempfile.mkdtemp()) / "seeded", state.mirror, paths.cache, catalog.registry_repositories
    )
    made, down = [], []
    for i in range(5):
        start = time.perf_counter()
        lab = fresh.prepare(
            Path(f"bench-{i}"), state.mirror, paths.cache, catalog.registry_repositories, seeded, sandboxing
        )
        made.append(time.perf_counter() - start)
        start = time.perf_counter()
        fresh.dismantle(lab)
        down.append(time.perf_counter() - start)
    shutil.rmtree(seeded.parents[2], ignore_errors=True)
    return statistics.median(made), statistics.median(down)


if __name__ == "__main__":
    sys.exit(main())
