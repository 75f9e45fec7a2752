"""Labs made ahead (`labkit hub --warm N`): a sign-in takes a sandbox that is already up, its engine and
registries answering and JupyterLab's Python already loaded, and only makes it the learner's.

    POOL.start(count, settings)    (from the hub's config, in JupyterHub's process)
    warm = POOL.take()             → Warm(sandbox, lab) or None (then a lab is made as before)

A warm sandbox is made as a learner's is (`spec`), but for no one: no folder kept. Taking one binds the
learner's folder at `home/kept` (`sandbox.keep`) and hands the waiting Python (`ZYGOTE`, running as the
sandbox's user, inside it) JupyterLab's environment and arguments, whereupon it serves. What a
sign-in costs is then what is the learner's own: their folder, JupyterLab's start, the hub's proxy.

The pool makes one sandbox at a time, in a thread of its own, and waits while learners are signing in
(`QUIET` seconds after the last take), so that refilling it never competes with a class arriving. It
makes none when the machine has less memory available than the hub keeps free. What it holds belongs
to the hub's run (the sandboxes' names carry JupyterHub's pid): `labkit hub --stop` and a restarted
hub take them down.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import sandbox
from ..errors import SandboxFailed
from ..home import packages_store
from ..labs import fresh, jupyter

log = logging.getLogger(__name__)

QUIET = 3.0  # seconds after the last sign-in before the pool makes another sandbox
LAB_MEMORY = 256 * 2**20  # what a warm sandbox holds while it waits (engine, registries, Python), about


@dataclass(frozen=True)
class LabSettings:
    """What every learner's sandbox is made of (SandboxSpawner's settings)."""

    cache: str
    mirror_data: str
    seeded: str
    hide: str
    memory: int
    pids: int
    disk: int
    min_free: int = 0


def spec(settings: LabSettings, name: str, kept: Path | None) -> sandbox.Spec:
    engine = fresh.sandbox_engine(Path(settings.cache))
    return sandbox.Spec(
        name=name,
        engine=engine,
        limits=sandbox.Limits(memory=settings.memory, pids=settings.pids, disk=settings.disk),
        mirror_data=Path(settings.mirror_data),
        hide=tuple(Path(p) for p in settings.hide.split(os.pathsep) if p),
        expose=fresh.exposed(engine),
        store="containerd" if engine.current else "classic",
        kept=kept,
        seeded=Path(settings.seeded) if settings.seeded else None,
        packages=packages_store(Path(settings.cache)),
        throwaway=False,  # a learner's day: its engine keeps to less memory
    )


#: JupyterLab's Python, started ahead as the sandbox's user: it loads what JupyterLab's start would
#: (some 3 s of CPU), then waits for one line on its input: the environment, folder and arguments of the
#: learner's JupyterLab, which it then becomes.
ZYGOTE = r"""
import importlib, json, os, sys
for name in ("jupyterhub.singleuser", "jupyterhub.singleuser.extension", "jupyter_server.serverapp",
             "jupyterlab.labapp", "jupyter_server_terminals", "notebook_shim", "labkit.ui.tracking"):
    try:
        importlib.import_module(name)
    except Exception as e:
        print(f"labkit: not loaded ahead: {name}: {e}", file=sys.stderr)
print("ready", flush=True)
os.dup2(2, 1)  # the hub reads no more of it: what JupyterLab prints goes to its log
line = sys.stdin.readline()
if not line:
    sys.exit(0)
order = json.loads(line)
os.environ.clear()
os.environ.update(order["env"])
os.chdir(order["cwd"])
sys.argv = ["jupyterhub-singleuser", *order["argv"]]
# What JupyterHub's HubAuth read from the environment when it was loaded, here before there was one: its
# learner's prefix (where its cookie is set: "/" would hand it to every lab) and the hub's API
for trait, variable in (("base_url", "JUPYTERHUB_SERVICE_PREFIX"), ("api_url", "JUPYTERHUB_API_URL"),
                        ("keyfile", "JUPYTERHUB_SSL_KEYFILE"), ("certfile", "JUPYTERHUB_SSL_CERTFILE"),
                        ("client_ca", "JUPYTERHUB_SSL_CLIENT_CA")):
    if os.environ.get(variable):
        sys.argv.append(f"--HubOAuth.{trait}={os.environ[variable]}")
from jupyterhub.singleuser import main
sys.exit(main())
"""


def lab_environment(sb: sandbox.Sandbox, extra: dict[str, str]) -> dict[str, str]:
    """JupyterLab's environment in `sb` (and so its kernels' and terminals'), with `extra` (JupyterHub's)."""
    workspace = sb.kept / "workspace"
    variables = {**sb.lab_variables(), "LABKIT_PROGRESS": str(sb.kept / "progress"), "LABKIT_WORKSPACE": str(workspace)}
    return {**jupyter.environment(variables, workspace, _base(sb)), **extra}


def _base(sb: sandbox.Sandbox) -> dict[str, str]:
    """What JupyterLab's Python starts with: the sandbox's user's."""
    return {**sb.base_env(), "SHELL": "/bin/bash"}


def lab_arguments(sb: sandbox.Sandbox, port: int) -> list[str]:
    settings = jupyter.settings_path(sb.home)  # made by `own_settings`
    return [
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={sb.kept / 'workspace'}",
        f"--LabApp.app_settings_dir={settings}",
        jupyter.TRACKERS,
        "--ServerApp.jpserver_extensions=jupyter_lsp=False",  # no language server in a lab: its memory and start saved
    ]


def own_settings(sb: sandbox.Sandbox) -> None:
    """JupyterLab's settings folder in the sandbox, its user's: no pop-up asking to fetch Jupyter's news
    (a classroom may be offline)."""
    settings = jupyter.settings_dir(sb.home)
    subprocess.run(["chown", "-R", f"{sb.uid}:{sb.gid}", str(settings)], check=True)


@dataclass
class Warm:
    sandbox: sandbox.Sandbox
    lab: subprocess.Popen  # the waiting Python (ZYGOTE)

    def serve(self, env: dict[str, str], port: int) -> subprocess.Popen:
        """The waiting Python becomes the learner's JupyterLab on 127.0.0.1:`port`."""
        order = {"env": env, "cwd": str(self.sandbox.kept / "workspace"), "argv": lab_arguments(self.sandbox, port)}
        self.lab.stdin.write((json.dumps(order) + "\n").encode())
        self.lab.stdin.close()
        return self.lab


def make_warm(settings: LabSettings, name: str) -> Warm:
    """A sandbox for no one yet, with JupyterLab's Python loaded and waiting in it."""
    sb = sandbox.make(spec(settings, name, kept=None))
    try:
        sb.offer_plugins()
        own_settings(sb)
        logfile = open(sb.root / "lab" / "jupyterlab.log", "ab")
        try:
            lab = subprocess.Popen(
                sb.command([sys.executable, "-P", "-c", ZYGOTE], _base(sb), network=False),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=logfile,
                start_new_session=True,
            )
        finally:
            logfile.close()
        if lab.stdout.readline().strip() != b"ready":
            raise SandboxFailed("loading JupyterLab ahead", f"exit status {lab.wait()}")
        lab.stdout.close()
        return Warm(sb, lab)
    except BaseException:
        sandbox.take_down(sb)
        raise


class Pool:
    """Warm labs for the hub's learners: up to `count`, made one at a time in a thread of its own."""

    def __init__(self) -> None:
        self.count, self.settings = 0, None
        self.ready: list[Warm] = []
        self.lock = threading.Lock()
        self.last_take = 0.0
        self.made = 0
        self.record: Path | None = None

    def start(self, count: int, settings: LabSettings, record: str = "") -> None:
        """Keep `count` labs made ahead for `settings`; how many are ready written to `record` (JSON)."""
        self.count, self.settings, self.record = count, settings, Path(record) if record else None
        if count > 0:
            threading.Thread(target=self._fill, name="labkit-warm", daemon=True).start()
        self._write()

    def take(self) -> Warm | None:
        with self.lock:
            self.last_take = time.monotonic()
            while self.ready:
                warm = self.ready.pop(0)
                if warm.lab.poll() is None and warm.sandbox.running():
                    self._write()
                    return warm
                threading.Thread(target=sandbox.take_down, args=(warm.sandbox,), daemon=True).start()
        self._write()
        return None

    def _fill(self) -> None:
        while True:
            with self.lock:
                wanted = len(self.ready) < self.count and time.monotonic() - self.last_take > QUIET
            if not wanted or not _room(self.settings.min_free + LAB_MEMORY):
                time.sleep(0.5)
                continue
            self.made += 1
            try:
                warm = make_warm(self.settings, f"{sandbox.PREFIX}-{os.getpid()}-w{self.made}")
            except Exception as e:  # noqa: BLE001 - a pool that cannot fill leaves sign-ins to the cold path
                log.warning("labkit: a lab made ahead failed: %s", e)
                time.sleep(10)
                continue
            with self.lock:
                self.ready.append(warm)
            self._write()

    def _write(self) -> None:
        """How full the pool is, for `labkit hub --status` and the benchmark: {"ready", "count"}."""
        if self.record is not None:
            try:
                self.record.write_text(json.dumps({"ready": len(self.ready), "count": self.count}))
            except OSError:
                pass


def available(meminfo: str) -> int:
    """The machine's available memory in bytes, from /proc/meminfo's text (its MemAvailable)."""
    fields = dict(line.split(":", 1) for line in meminfo.splitlines() if ":" in line)
    return int(fields.get("MemAvailable", "0 kB").split()[0]) * 1024


def _room(need: int) -> bool:
    return available(Path("/proc/meminfo").read_text()) >= need


def default_count(meminfo: str, cores: int, keep_free: int) -> int:
    """How many labs to keep warm on this machine: six a core (a class arriving within a minute, as the
    benchmark's 12 in 10 s on 2 cores, docs/classroom.md), waiting in at most a quarter of the memory
    available beyond what the hub keeps free."""
    return int(max(0, min(6 * cores, max(0, available(meminfo) - keep_free) // 4 // LAB_MEMORY)))


POOL = Pool()
