"""Benchmark: a class on one server. How fast a learner's lab is ready, what it costs, how soon the
instructor sees a check, how much of the machine is left.

    sudo .venv/bin/python bench/hub.py [N ...] [--within S] [-- HUB-OPTION ...]    (default: 12 within 10 s)

Starts a lab and a `labkit hub` of its own (given HUB-OPTIONs, such as --warm 0). For each N: N new
learners sign in over S seconds, one every S/N (HTTP, as a browser does), and open JupyterLab; each
then runs the source notebooks 00 and 03 (every code cell, in a kernel of their lab, over its
websocket); their labs are stopped through the hub's API before the next N. It prints, for each N:
the time from sign-in to a ready lab (median and p95; targets at most 2 s and 4 s), each lab's memory
from its cgroup (kernel, JupyterLab, engine, containers, registries: their own memory, target at most
250 MB, and the group's peak, which also counts the page cache), the machine's available memory at
its lowest during the round (/proc/meminfo's MemAvailable), and the class view's delay (from a
learner's check returning to the instructor's `api/view` showing it; the page adds its 1 s poll).
The reference run, in the same script: making and taking down one bare sandbox, the part of a lab's
start that is not JupyterLab's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import nbformat  # noqa: E402
from benchlab import bench_lab  # noqa: E402
from hubclient import HubLearner  # noqa: E402

CODE, ADMIN = "bench-code", "bench-admin"
MEDIAN_TARGET, P95_TARGET, MEMORY_TARGET = 2.0, 4.0, 250
NOTEBOOKS = ("00-start-here", "03-inspecting-images")


def cells(name: str) -> list[str]:
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]


def available() -> int:
    """The machine's available memory now (MB)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(fields["MemAvailable"].split()[0]) // 1024


def warm_pool(hub_home: Path, timeout: float = 600) -> str:
    """Wait until the hub's labs made ahead are all ready; what it held, and how long that took."""
    import json

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            pool = json.loads((hub_home / "warm.json").read_text())
        except (OSError, ValueError):
            pool = {"ready": 0, "count": -1}
        if pool["count"] >= 0 and pool["ready"] >= pool["count"]:
            return f"{pool['count']} lab(s) made ahead, ready {time.monotonic() - started:.0f} s after the hub answered"
        time.sleep(0.5)
    return f"labs made ahead: not all ready after {timeout:.0f} s"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def learner_round(base: str, names: list[str], teacher: HubLearner, within: float, hub_home: Path) -> dict:
    lowest, watching = [available()], threading.Event()

    def watch() -> None:
        while not watching.wait(0.2):
            lowest.append(available())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    began = time.monotonic()

    def ready(index: int) -> tuple[HubLearner, float]:
        name = names[index]
        time.sleep(max(0.0, began + index * within / len(names) - time.monotonic()))  # arrivals spread over `within`
        learner = HubLearner(base, name)
        start = time.monotonic()
        status, why = learner.sign_in(CODE, "2468")
        assert status == 200, why
        assert learner.open_lab() == 200
        return learner, time.monotonic() - start

    with ThreadPoolExecutor(len(names)) as pool:
        learners = list(pool.map(ready, range(len(names))))

    def work(learner: HubLearner) -> float:
        for notebook in NOTEBOOKS:
            for source in cells(notebook):
                learner.run(source)
        learner.run("lab.check('start.pull')")  # a check the instructor's view must show
        returned = time.monotonic()
        while True:
            view = teacher.http.get(f"{base}/services/class/api/view", timeout=30).json()
            row = next((r for r in view["learners"] if r["name"] == learner.name), None)
            if row and row["cells"]["start.pull"]["attempts"] >= 2:
                return time.monotonic() - returned
            time.sleep(0.05)

    with ThreadPoolExecutor(len(names)) as pool:
        delays = list(pool.map(work, [learner for learner, _ in learners]))
    memory = peaks(hub_home)
    watching.set()
    watcher.join()
    hub_xsrf = next((c.value for c in teacher.http.cookies if c.name == "_xsrf" and c.path.startswith("/hub")), "")
    for name in names:  # their labs go before the next round
        teacher.http.delete(f"{base}/hub/api/users/{name}/server", headers={"X-XSRFToken": hub_xsrf}, timeout=120)
    return {"ready": [t for _, t in learners], "delays": delays, "memory": memory, "lowest": min(lowest)}


def peaks(hub_home: Path) -> list[tuple[float, float]]:
    """Each learner's running lab's memory (MB), from its sandbox's cgroup: (its programs' own memory now,
    anonymous and resident; the group's peak, which also counts the page cache of its disk and image
    unpacking). The labs are those the hub's database names (not the ones it makes ahead meanwhile)."""
    from labkit.classroom.hub import labs_in_database
    from labkit.sandbox import _cgroups

    found = []
    for name in sorted(labs_in_database(hub_home)):
        group = _cgroups.Group(name)
        found.append(((group.own_memory() or 0) / 2**20, (group.peak_memory() or 0) / 2**20))
        if len(found) == 1:
            print(f"where one lab's memory goes (anonymous resident, MB): {by_program(group.pids())}", flush=True)
    return found


def by_program(pids: list[int]) -> str:
    """The programs of a lab by the anonymous memory they hold (RssAnon), largest first."""
    held: dict[str, float] = {}
    for pid in pids:
        try:
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
            )
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = status["Name"].strip()
        if program.startswith("python"):  # JupyterLab, or a kernel
            program = "kernel" if b"ipykernel_launcher" in b" ".join(argv) else "JupyterLab"
        held[program] = held.get(program, 0) + int(status.get("RssAnon", "0 kB").split()[0]) / 1024
    return ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(held.items(), key=lambda kv: -kv[1]) if mb >= 1)


def reference(work: Path) -> float:
    """Making and taking down one bare sandbox (what a lab's start costs besides JupyterLab)."""
    from labkit import sandbox
    from labkit.home import LabPaths
    from labkit.labs import fresh
    from labkit.registries import programs

    paths = LabPaths.from_env()
    engine = fresh.sandbox_engine(paths.cache)
    spec = sandbox.Spec(
        name=f"{sandbox.PREFIX}-{os.getpid()}-ref",
        limits=sandbox.Limits(),
        engine=engine,
        mirror_data=programs.data_dir(paths, programs.MIRROR),
        expose=fresh.exposed(engine),
        store="containerd" if engine.current else "classic",
    )
    start = time.monotonic()
    sandbox.take_down(sandbox.make(spec))
    return time.monotonic() - start


def main(rounds: list[int], within: float, options: list[str]) -> int:
    missed = False
    with bench_lab("labkit-bench-hub-") as (work, env):
        os.environ.update(env)
        hub_home = Path(tempfile.mkdtemp(prefix="labkit-bench-hubhome-"))
        env["LABKIT_HUB_HOME"] = str(hub_home)
        from labkit.classroom.hub import healthy
        from labkit.machine import processes

        port = processes.free_port()
        base = f"http://127.0.0.1:{port}"
        hub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labkit",
                "hub",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--code",
                CODE,
                "--admin-code",
                ADMIN,
                *options,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            failure = processes.wait_ready(lambda: healthy(base), hub, 300)
            if failure:
                print(f"labkit hub did not start: {failure} (its log: {hub_home / 'jupyterhub.log'})", file=sys.stderr)
                return 1
            ref = reference(work)
            print(f"reference: a bare sandbox made and taken down in {ref:.2f} s", flush=True)
            print(f"the machine: {os.cpu_count()} cores, {available()} MB available before the class", flush=True)
            teacher = HubLearner(base, "instructor")
            assert teacher.sign_in(ADMIN)[0] == 200
            taken = 0
            for n in rounds:
                print(warm_pool(hub_home), flush=True)
                names = [f"learner{taken + i}" for i in range(n)]
                taken += n
                got = learner_round(base, names, teacher, within if n > 1 else 0.0, hub_home)
                ready, delays = got["ready"], got["delays"]
                own, peak = (
                    [m[0] for m in got["memory"]] or [float("nan")],
                    [m[1] for m in got["memory"]] or [float("nan")],
                )
                worst_memory = max(own)
                line = (
                    f"N={n} within {within if n > 1 else 0:.0f} s: sign-in to a ready lab median "
                    f"{statistics.median(ready):.1f} s, p95 {p95(ready):.1f} s, worst {max(ready):.1f} s "
                    f"({statistics.median(ready) / ref:.1f}x a bare sandbox); memory per lab (its programs') median "
                    f"{statistics.median(own):.0f} MB, worst {worst_memory:.0f} MB (cgroup peak with page cache: "
                    f"median {statistics.median(peak):.0f} MB, worst {max(peak):.0f} MB); "
                    f"class view delay median {statistics.median(delays):.2f} s, worst {max(delays):.2f} s "
                    f"(+ the page's 1 s poll); the machine's available memory at its lowest {got['lowest']} MB"
                )
                if statistics.median(ready) > MEDIAN_TARGET or p95(ready) > P95_TARGET:
                    line += f"  MISSED ready median <= {MEDIAN_TARGET} s, p95 <= {P95_TARGET} s"
                    missed = True
                if worst_memory > MEMORY_TARGET:
                    line += f"  MISSED memory <= {MEMORY_TARGET} MB"
                    missed = True
                print(line, flush=True)
        finally:
            subprocess.run([sys.executable, "-m", "labkit", "hub", "--stop"], env=env, capture_output=True, timeout=300)
            hub.wait(timeout=120)
            subprocess.run(["rm", "-rf", str(hub_home)])
    return 1 if missed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    options = args[args.index("--") + 1 :] if "--" in args else []
    args = args[: args.index("--")] if "--" in args else args
    within = 10.0
    if "--within" in args:
        at = args.index("--within")
        within, args = float(args[at + 1]), args[:at] + args[at + 2 :]
    sys.exit(main([int(n) for n in args] or [12], within, options))
