"""A learner's lab on the class's hub: the grading sandbox, reused, with JupyterLab in it.

Each learner's server runs as a throwaway unprivileged user of their own, with a rootless engine and
course registry, inside a learner's limits (`labkit.sandbox`, as for a graded submission), the class's
mirror serving the base images. What outlives the lab is the learner's folder under the hub's home
(`learners/<name>`: `workspace/` with their notebooks, copied in once and never overwritten, and
`progress/`, their checks and hints), bound into the sandbox at `home/kept`; every other learner's
folder, the hub's own files and the class lab are hidden from it. JupyterLab runs in the machine's
network namespace (the hub must reach it, and it the hub), its kernels too: the sandbox's registry and
mirror are published on the machine's loopback under the ports the learner's names use.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Integer, Unicode, default

from .. import sandbox
from ..course import release
from ..errors import SandboxFailed
from ..labs import jupyter
from ..machine import processes
from . import _warm

#: In a learner's kept folder when their last lab did not start: {"time", "problem"}.
PROBLEM_FILE = "lab-problem.json"
START_PAGE = jupyter.start_path()  # where a learner's JupyterLab opens (JupyterHub's Spawner.default_url)


class SandboxSpawner(Spawner):
    """JupyterHub's spawner for a learner: a sandbox per server, the learner's folder kept."""

    hub_home = Unicode(help="The hub's folder: learners/<name> for each learner's kept work.").tag(config=True)
    cache = Unicode(help="The class lab's cache (its engine, the registry seed).").tag(config=True)
    mirror_data = Unicode(help="The class mirror's storage folder.").tag(config=True)
    seeded = Unicode(help="A course registry's storage holding the base layers, each lab's registry starts from.").tag(
        config=True
    )
    notebooks = Unicode(help="The course's source notebooks (learner copies are made from them).").tag(config=True)
    hide = Unicode(help="Folders of the machine no learner may see, separated by os.pathsep.").tag(config=True)
    min_free = Integer(512 * 2**20, help="Memory the machine must have free to start another lab (bytes).").tag(
        config=True
    )
    memory = Integer(sandbox.Limits.memory).tag(config=True)
    pids = Integer(sandbox.Limits.pids).tag(config=True)
    disk = Integer(sandbox.Limits.disk).tag(config=True)

    @default("default_url")
    def _start_page(self) -> str:
        return START_PAGE

    sandbox: sandbox.Sandbox | None = None
    proc: subprocess.Popen | sandbox.Running | None = None

    @property
    def kept(self) -> Path:
        return Path(self.hub_home) / "learners" / self.user.name

    async def start(self) -> tuple[str, int]:
        port = processes.free_port()
        loop = asyncio.get_running_loop()
        problem = self.kept / PROBLEM_FILE
        refusal = ""
        try:
            warm = _warm.POOL.take()
            if warm is not None:  # made ahead: only the learner's folder and JupyterLab's start are theirs
                self.sandbox = warm.sandbox
                try:
                    self.proc = await loop.run_in_executor(None, self._serve_warm, warm, port)
                except BaseException:
                    await loop.run_in_executor(None, sandbox.take_down, self.sandbox)
                    self.sandbox = None
                    raise
                problem.unlink(missing_ok=True)
                return "127.0.0.1", port
            refusal = no_room(Path("/proc/meminfo").read_text(), self.min_free)
            if refusal:
                raise RuntimeError(refusal)
            self.sandbox = await loop.run_in_executor(None, self._make)
            try:
                self.proc = await loop.run_in_executor(None, self._serve, port)
            except BaseException:
                await loop.run_in_executor(None, sandbox.take_down, self.sandbox)
                self.sandbox = None
                raise
        except Exception as e:  # the learner sees it on JupyterHub's page; the instructor on the class view
            _real_folder(self.kept)
            problem.unlink(missing_ok=True)  # never written through a link the learner made: root writes it
            fd = os.open(problem, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps({"time": time.time(), "problem": str(e)}))
            raise _shown_to_learner(refusal or in_learners_words(e)) from e
        problem.unlink(missing_ok=True)
        return "127.0.0.1", port

    @property
    def settings(self) -> _warm.LabSettings:
        return _warm.LabSettings(
            self.cache, self.mirror_data, self.seeded, self.hide, self.memory, self.pids, self.disk, self.min_free
        )

    def _own_folder(self) -> None:
        """The learner's folder, made the first time with the course's notebooks."""
        workspace, progress = self.kept / "workspace", self.kept / "progress"
        for folder in (self.kept, workspace, progress):  # the learner's own: root follows no link of theirs here
            _real_folder(folder)
        for notebook in Path(self.notebooks).glob("*.ipynb"):  # nor where the notebooks (and their temporary files) go
            for target in (workspace / notebook.name, workspace / f".{notebook.name}.tmp"):
                if target.is_symlink():
                    target.unlink()
        release.stock(Path(self.notebooks), workspace)  # never overwrites a notebook that is there

    def _make(self) -> sandbox.Sandbox:
        """The learner's folder, then a sandbox around it."""
        self._own_folder()
        sb = sandbox.make(self._spec(f"{sandbox.PREFIX}-{os.getpid()}-u{self.user.id}"))  # a user name fits 32
        try:
            self._give_folder(sb)
            sb.offer_plugins()
        except BaseException:
            sandbox.take_down(sb)
            raise
        return sb

    def _give_folder(self, sb: sandbox.Sandbox) -> None:
        subprocess.run(["chown", "-R", f"{sb.uid}:{sb.gid}", str(self.kept)], check=True)
        os.chmod(self.kept, 0o700)

    def _spec(self, name: str) -> sandbox.Spec:
        return _warm.spec(self.settings, name, self.kept)

    def _serve_warm(self, warm: _warm.Warm, port: int) -> subprocess.Popen:
        """A lab made ahead made the learner's: their folder bound in it, then JupyterLab."""
        self._own_folder()
        self._give_folder(warm.sandbox)
        sandbox.keep(warm.sandbox, self.kept)
        return warm.serve(_warm.lab_environment(warm.sandbox, self.get_env()), port)

    def _serve(self, port: int) -> subprocess.Popen:
        """JupyterLab as the learner, in the sandbox, on 127.0.0.1:`port`."""
        sb = self.sandbox
        workspace = sb.kept / "workspace"
        env = _warm.lab_environment(sb, self.get_env())
        _warm.own_settings(sb)
        argv = [sys.executable, "-P", "-m", "jupyterhub.singleuser", *_warm.lab_arguments(sb, port)]
        log = open(sb.root / "lab" / "jupyterlab.log", "ab")
        try:
            return subprocess.Popen(
                sb.command(argv, env, network=False, cwd=workspace),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    # --- a hub started again: its state kept in JupyterHub's database -------------------------
    def get_state(self) -> dict:
        state = super().get_state()
        if self.sandbox is not None and self.proc is not None:
            state.update(sandbox=self.sandbox.name, pid=self.proc.pid)
        return state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self._left = (state.get("sandbox", ""), int(state.get("pid", 0)))

    def clear_state(self) -> None:
        super().clear_state()
        self._left = ("", 0)

    _left: tuple[str, int] = ("", 0)  # the lab a killed hub left: its sandbox's name, JupyterLab's pid

    def _take_back(self) -> None:
        """The lab of this learner that a hub killed hard left running, taken back as it is (its
        kernels, engine and registry with it); what is left of one that no longer runs is taken down
        (the learner's folder stays: their next visit makes a lab again)."""
        name, pid = self._left
        self._left = ("", 0)
        if not name:
            return
        sb = sandbox.adopt(self._spec(name))
        if sb is None:
            return
        lab = sandbox.Running(pid)
        if sb.running() and pid and lab.poll() is None:
            self.sandbox, self.proc = sb, lab
            self.log.info("took back %s's lab (%s, JupyterLab pid %s)", self.user.name, name, pid)
        else:
            self.log.warning("%s's lab %s did not outlive the hub: taken down, their work kept", self.user.name, name)
            sandbox.take_down(sb)

    async def poll(self) -> int | None:
        if self.proc is None and self._left[0]:
            await asyncio.get_running_loop().run_in_executor(None, self._take_back)
        if self.proc is None:
            return 0
        return self.proc.poll()

    async def stop(self, now: bool = False) -> None:
        """The lab goes (its user, engine, registry, processes); the learner's folder stays."""
        sb, self.sandbox, self.proc = self.sandbox, None, None
        if sb is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._keep_log, sb)
            await asyncio.get_running_loop().run_in_executor(None, sandbox.take_down, sb)

    def _keep_log(self, sb: sandbox.Sandbox) -> None:
        """The end of the lab's JupyterLab log, kept in the hub's own folder (`logs/<learner>.log`, out of
        every lab's sight) when the lab goes: why a lab ended outlives its sandbox."""
        logs = Path(self.hub_home) / "logs"
        try:  # a log not kept never keeps a lab from being taken down
            logs.mkdir(mode=0o700, exist_ok=True)
            with open(logs / f"{self.user.name}.log", "a") as kept:
                kept.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}: the lab went\n")
                kept.write(processes.log_tail(sb.root / "lab" / "jupyterlab.log", 200) + "\n")
        except OSError as e:
            self.log.warning("the end of %s's lab log was not kept: %s", self.user.name, e)


def no_room(meminfo: str, need: int) -> str:
    """Why another lab may not start ("" when it may): the machine's available memory (/proc/meminfo's
    MemAvailable) is below `need`. Refused at once, so a full machine answers instead of swapping."""
    available = _warm.available(meminfo)
    if available >= need:
        return ""
    return (
        f"The class server has no memory left for another lab ({available // 2**20} MB free, a lab needs "
        f"{need // 2**20} MB): tell your instructor, or try again when someone has finished."
    )


def in_learners_words(e: Exception) -> str:
    """Why a lab did not start, for the learner: the step, not the machine's log and paths, nor a next
    step meant for whoever runs the server (the class view has the whole of it)."""
    step = f" ({e.step})" if isinstance(e, SandboxFailed) else ""
    return f"The class server could not make it{step}: tell your instructor, whose class view says why."


def _shown_to_learner(why: str) -> web.HTTPError:
    """Why a learner's lab did not start, as JupyterHub shows it to the learner: its `jupyterhub_message`,
    on its error page when the start fails at once (only an HTTPError gets there; anything else reads
    "Unhandled error starting server"), and on its spawn-pending page when it fails later."""
    error = web.HTTPError(503, "%s", why)
    error.jupyterhub_message = f"Your lab did not start. {why}"
    return error


def _real_folder(path: Path) -> None:
    """`path` a folder of its own: a link (or file) a learner put there instead is removed first, so
    what root writes under it stays in the learner's folder."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(parents=True, exist_ok=True)
