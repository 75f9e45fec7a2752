"""Benchmark: grading a class of 30 capstones.

    .venv/bin/python bench/grading.py [N]

A lab of its own is started in a temporary home. N (default 30) copies of 08-capstone,
alternately the worked solution and the released notebook with nothing done, are graded
with `--jobs 1` and with `--jobs 2`, each twice (1, 2, 2, 1: a steady drift in this machine's
speed cancels out of the ratio). The reference is the same notebooks run one after the
other with plain nbclient in one lab (reset between them), with no grading around them.
Reported: seconds per submission, the speed-up of --jobs 2, and the grader's time over the
plain runs. Targets: overhead at most 1.15x; --jobs 2 at least 1.5x faster than --jobs 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from benchlab import LABKIT as labkit  # noqa: E402
from benchlab import bench_lab  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

TARGET_OVERHEAD, TARGET_SPEEDUP = 1.15, 1.5


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with bench_lab("labkit-bench-grading-") as (work, env):
        os.environ.update(env)
        from labkit.course._context import LabContext
        from labkit.infra._lifecycle import env as lab_env
        from labkit.infra._paths import LabPaths
        from labkit.course._release import release
        from labkit.course._reset import reset

        release(REPO / "notebooks", work / "released")
        subs = work / "subs"
        subs.mkdir()
        for i in range(count):
            source = REPO / "notebooks" / "08-capstone.ipynb" if i % 2 == 0 else work / "released" / "08-capstone.ipynb"
            shutil.copy(source, subs / f"learner{i:03d}-08-capstone.ipynb")

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
            NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(space)}}).execute()
        plain = time.perf_counter() - start
        for name in [k for k in os.environ if k.startswith("DOCKER_")]:
            del os.environ[name]

        # --jobs 1, --jobs 2, --jobs 2, --jobs 1: this machine's speed drifts over minutes, and this
        # order cancels a steady drift out of the ratio of the two sums.
        timings, breakdown, runs = {1: 0.0, 2: 0.0}, {1: [0.0, 0.0, set()], 2: [0.0, 0.0, set()]}, []
        for round_, jobs in enumerate((1, 2, 2, 1)):
            out = work / f"grades-{round_}"
            start = time.perf_counter()
            subprocess.run([*labkit, "grade", str(subs), "--out", str(out), "--jobs", str(jobs)],
                           env=env, capture_output=True, check=False)
            took = time.perf_counter() - start
            timings[jobs] += took / 2
            runs.append(f"--jobs {jobs} {took:.1f} s")
            rows = json.loads((out / "report.json").read_text())["submissions"]
            breakdown[jobs][0] += sum(r["seconds"] for r in rows) / 2
            breakdown[jobs][1] += sum(e["timings"].get("check_seconds") or 0 for r in rows for e in r["exercises"].values()) / 2
            breakdown[jobs][2] |= {r["points"] for r in rows}
    overhead, speedup = timings[1] / plain, timings[1] / timings[2]
    in_submissions, checks, scores = breakdown[1][0], breakdown[1][1], sorted(breakdown[1][2] | breakdown[2][2])
    print(f"{count} capstones (half correct); each grading run twice, in the order {', '.join(runs)}")
    print(f"plain nbclient, one lab, reset between : {plain:7.1f} s  ({plain / count:5.2f} s per notebook)")
    print(f"labkit grade --jobs 1 (mean of two)     : {timings[1]:7.1f} s  ({timings[1] / count:5.2f} s per submission)"
          f"   overhead {overhead:.2f}x (target <= {TARGET_OVERHEAD}x){'' if overhead <= TARGET_OVERHEAD else '  MISSED'}")
    print(f"labkit grade --jobs 2 (mean of two)     : {timings[2]:7.1f} s  ({timings[2] / count:5.2f} s per submission)"
          f"   speed-up {speedup:.2f}x (target >= {TARGET_SPEEDUP}x){'' if speedup >= TARGET_SPEEDUP else '  MISSED'}")
    print(f"  of --jobs 1: in submissions {in_submissions:.1f} s (the grader's own checks {checks:.1f} s); "
          f"around them {timings[1] - in_submissions:.1f} s (start-up, the first lab, the last take-down, reports)")
    print(f"  of --jobs 2: in submissions {breakdown[2][0] / 2:.1f} s a worker; around them "
          f"{timings[2] - breakdown[2][0] / 2:.1f} s (start-up and the workers', the last submission alone, take-down, reports)")
    print(f"  scores seen: {scores} (the worked solution 10, the untouched notebook 0)")
    return 0 if overhead <= TARGET_OVERHEAD and speedup >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
