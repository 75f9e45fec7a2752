"""The lab on a learner's own engine, as an ordinary user: not root, no sudo, and a PATH without
docker-registry, debootstrap or dockerd.

"The learner's engine" is started here: the current engine with the containerd image store, its
socket owned by a group the test user is in (as Docker CE's `docker` group), and no registry
mirror configured (as a fresh install). The user loads a bundle made by the session's lab, then
`labkit up` runs the course registry and the mirror as containers on that engine."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from learner import add_user, bin_folder, command, remove_user

from labkit.engines import dockerd, fetched
from labkit.home import EngineState, LabPaths
from labkit.machine import Watcher

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["00-start-here", "03-inspecting-images", "04-layers", "07-push", "08-capstone"]


@dataclass
class Learner:
    user: str
    home: Path
    host: str
    env: dict[str, str]
    stage: Path

    tun: Path | None = None

    def run(
        self, *argv: str, env: dict | None = None, groups: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        wrapped = command(self.user, list(argv), {**self.env, **(env or {})}, self.stage, groups=groups, tun=self.tun)
        return subprocess.run(wrapped, capture_output=True, text=True, cwd=self.home, timeout=timeout)

    def labkit(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        result = self.run(
            str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable,
            "-m",
            "labkit",
            *args,
            **kw,
        )
        if check:
            assert result.returncode == 0, (
                f"labkit {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = self.run("docker", *args)
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stdout}\n{result.stderr}"
        return result


TRACK_ON_THEIR_ENGINE = """
import subprocess, time
from labkit.course import LabContext, ProgressStore, live

def docker(*args):
    subprocess.run(["docker", *args], check=True, capture_output=True)

def until(condition, within):
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()

ctx = LabContext.from_env()
tracker = live.Tracker("start", LabContext.from_env, ProgressStore.for_paths(ctx.paths), lambda rows: None).start()
row = lambda: tracker.state["start.pull"]
docker("tag", "busybox:latest", "kept-busybox:1")
docker("rmi", "busybox:latest")
assert until(lambda: row().result is not None and not row().result.passed, 60), "not undone: " + repr(row())
docker("tag", "kept-busybox:1", "busybox:latest")
started = time.monotonic()
passed = until(lambda: row().result.passed, 5)
docker("rmi", "kept-busybox:1")
tracker.stop()
print(f"start.pull: {'passed' if passed else 'NOT passed'} {time.monotonic() - started:.2f} s after the tag")
"""


def _a_build_again(learner: Learner, workspace: Path) -> str:
    """After a failed notebook, the first of its builds run again with its whole output: nbval shows the
    cell's exception, not what `docker build` said."""
    for dockerfile in sorted(workspace.glob("*/Dockerfile")):
        build = learner.run("docker", "build", "--progress=plain", "--no-cache", str(dockerfile.parent), timeout=600)
        return f"\n--- docker build {dockerfile.parent.name} again: {build.returncode}\n{build.stderr[-4000:]}"
    return ""


def _on_tmpfs(base: Path) -> bool:
    """Where a rootless engine's overlay cannot be used (moby/moby#44372): a learner whose Docker data
    is in memory sets the same storage as labkit's sandboxes do there."""
    under = dockerd.filesystem_of(base)
    return under is not None and under.fstype == "tmpfs"


def _names(learner: Learner) -> set[str]:
    return set(learner.docker("ps", "-a", "--format", "{{.Names}}").stdout.split())


@contextlib.contextmanager
def real_file_system(base: Path) -> Iterator[None]:
    """A learner's Docker keeps its images on a real file system. Where the tests run in a container
    whose root is overlayfs (scripts/fresh-machine.sh bare), the stand-in engine's folder gets a tmpfs:
    overlay snapshots cannot be mounted from overlayfs (labkit's own engine copes: prepare_data_root)."""
    if not dockerd.on_overlayfs(base):
        yield
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16g", "labkit-test-learner", str(base)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(base)], check=False)


@pytest.fixture(scope="module")
def learner(lab):
    """An ordinary user with an engine of their own (socket group-owned) and the session lab's bundle."""
    pid = os.getpid()
    user, group = f"labkit-lt-{pid}", f"labkit-ltd-{pid}"  # group: as Docker CE's `docker` group
    base = Path(tempfile.mkdtemp(prefix="labkit-learner-"))
    on_disk = contextlib.ExitStack()
    on_disk.enter_context(real_file_system(base))
    base.chmod(0o755)  # pytest (nbval) as the learner lists the folders above a notebook
    paths = LabPaths(home=base / "engine-home", cache=Path(lab.env["LABKIT_CACHE"]))
    engine_state = None
    try:
        add_user(user, base / "home", group)
        current, _notes = fetched.choose(paths.cache, Watcher())
        assert current is not None and current.current, "the learner's engine is today's (Engine 28 or newer)"
        engine_state = dockerd.start(paths, "http://127.0.0.1:9", EngineState(), engine=current, store="containerd")
        socket = Path(engine_state.host.removeprefix("unix://"))
        for folder in (paths.home, socket.parent):
            folder.chmod(0o711)
        shutil.chown(socket, group=group)
        socket.chmod(0o660)
        programs = Path(engine_state.programs)
        tools = bin_folder(base / "bin", str(programs / "usr/bin/docker"))
        plugins = base / "home" / ".docker" / "cli-plugins"  # where a learner's Docker has buildx
        plugins.mkdir(parents=True)
        (plugins / "docker-buildx").symlink_to(programs / "usr/libexec/docker/cli-plugins/docker-buildx")
        lab.labkit("mirror", "save", str(base / "home" / "course-bundle.tar"))
        subprocess.run(["chown", "-R", f"{user}:{user}", str(base / "home")], check=True)
        stage = base / "stage"
        stage.mkdir()
        env = {"PATH": f"{tools}:/usr/bin:/bin", "DOCKER_HOST": engine_state.host, "LABKIT_OFFLINE": "1"}
        learner = Learner(user, base / "home", engine_state.host, env, stage)
        for program in ("docker-registry", "debootstrap", "dockerd"):
            assert learner.run("sh", "-c", f"command -v {program}").returncode != 0
        assert learner.run("id", "-u").stdout.strip() != "0"
        yield learner
    finally:
        if engine_state is not None:
            dockerd.stop(paths)
        remove_user(user, group)
        shutil.rmtree(base, ignore_errors=True)
        on_disk.close()


def test_the_course_runs_on_the_learners_own_engine(learner):
    _runs_the_course(learner)


def _runs_the_course(learner: Learner) -> None:
    deps = learner.run("bash", str(REPO / "scripts/install-deps.sh"))  # `make lab`'s first step: nothing to install
    assert deps.returncode == 0 and not deps.stdout + deps.stderr, deps.stdout + deps.stderr
    before = learner.labkit("up", check=False)
    assert before.returncode == 1
    assert "registry:2" in before.stderr and "labkit mirror load FILE" in before.stderr  # no image yet: says what to do

    loaded = learner.labkit("mirror", "load", "course-bundle.tar")
    assert "registry:2" in loaded.stdout and "your engine" in loaded.stdout
    learner.docker("tag", "busybox", "precious:1")  # the learner's own, made before the lab
    learner.docker("create", "--name", "precious-box", "precious:1", "true")

    up = learner.labkit("up")
    assert "Docker Hub, which is not reachable" in up.stderr and "registry-mirrors" in up.stderr
    status = json.loads(learner.labkit("status", "--json").stdout)
    assert status["ok"] and status["engine"]["details"]["managed"] is False
    assert status["engine"]["details"]["host"] == learner.host
    assert status["engine"]["details"]["uses_mirror"] is False
    assert "daemon.json" in status["engine"]["details"]["mirror_setting"]
    assert status["engine"]["details"]["builder"] == "BuildKit"
    assert status["mirror"]["details"]["images"] == ["busybox:latest", "debian:bookworm-slim", "nginx:latest"]
    registry = status["registry"]["details"]["url"]
    boxes = {name for name in _names(learner) if name.startswith("labkit-")}
    assert len(boxes) == 2 and all(name.endswith(("-registry", "-mirror")) for name in boxes)

    workspace = learner.home / "work"
    learner.run("mkdir", "-p", str(workspace))
    for name in NOTEBOOKS:
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", workspace / f"{name}.ipynb")
        subprocess.run(["chown", learner.user, str(workspace / f"{name}.ipynb")], check=True)
        reset = learner.labkit("reset", "--workspace", str(workspace))
        assert "precious" not in reset.stdout
        result = learner.run(
            str(REPO / ".venv/bin/python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            "/dev/null",
            "--rootdir",
            str(workspace),
            "--nbval-lax",
            "--sanitize-with",
            str(REPO / "notebooks" / "sanitize.cfg"),
            "--nbval-cell-timeout=900",
            str(workspace / f"{name}.ipynb"),
            env={"LABKIT_WORKSPACE": str(workspace)},
        )
        assert result.returncode == 0, (
            f"{name} as the learner:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
            + _a_build_again(learner, workspace)
        )
    assert learner.docker("image", "inspect", "precious:1").returncode == 0

    # A pull exercise undone on an engine that cannot pull: the feedback names the setting, not Docker's error.
    learner.docker("tag", "nginx:latest", "kept-nginx:1")
    learner.docker("rmi", "nginx:latest")
    check = learner.labkit("check", "inspect.pull", check=False)
    assert check.returncode == 1 and "registry-mirrors" in check.stdout and "labkit mirror load FILE" in check.stdout
    learner.docker("tag", "kept-nginx:1", "nginx:latest")
    learner.docker("rmi", "kept-nginx:1")

    # The lesson's tracker on the learner's own engine: its events wake start.pull (a tag here: this
    # engine cannot pull), in the learner's own process, as their own Jupyter's kernel runs it.
    tracked = learner.run(
        str(REPO / ".venv/bin/python"), "-c", TRACK_ON_THEIR_ENGINE, env={"LABKIT_WORKSPACE": str(workspace)}
    )
    assert tracked.returncode == 0 and "start.pull: passed" in tracked.stdout, tracked.stdout + tracked.stderr

    down = learner.labkit("down")
    assert "kept for `labkit up`" in down.stdout and "left running" in down.stdout
    assert learner.docker("version").returncode == 0  # the learner's engine runs on
    assert {"precious-box", *boxes} <= _names(learner)  # stopped, not removed
    again = json.loads(learner.labkit("up") and learner.labkit("status", "--json").stdout)
    assert again["registry"]["details"]["url"] == registry  # the registry did not move: tags name its address
    purge = learner.labkit("down", "--purge")
    assert "removed" in purge.stdout
    assert not {name for name in _names(learner) if name.startswith("labkit-")}
    assert "precious-box" in _names(learner)
    learner.docker("rm", "precious-box")


def test_no_engine_reachable_names_docker_host_and_the_sockets_tried(learner):
    result = learner.labkit("up", check=False, env={"DOCKER_HOST": "unix:///nowhere/docker.sock"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "DOCKER_HOST is unix:///nowhere/docker.sock" in result.stderr and "/nowhere/docker.sock" in result.stderr
    assert "sudo make lab" in result.stderr  # only labkit's own engine needs root, and it says so


def test_an_engine_the_user_may_not_use_says_to_join_the_docker_group(learner):
    result = learner.labkit("up", check=False, groups=False)  # the same user, not in the socket's group
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "ermission denied" in result.stderr and "docker` group" in result.stderr and "rootless" in result.stderr


def test_a_bundle_cut_short_or_of_the_wrong_kind_is_refused(learner):
    whole = learner.home / "course-bundle.tar"
    learner.run("sh", "-c", f"head -c 30000000 {whole} > cut.tar; echo hello > notes.tar")
    for name, said in (("cut.tar", "cut short"), ("notes.tar", "not a `docker save` archive")):
        result = learner.labkit("mirror", "load", name, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert said in result.stderr and "labkit mirror save FILE" in result.stderr


@pytest.fixture(scope="module")
def rootless_learner(lab):
    """An ordinary user running rootless Docker (today's engine, containerd store), no DOCKER_HOST:
    labkit finds it in the user's runtime folder, and through the `rootless` docker context that
    `dockerd-rootless-setuptool.sh` makes."""
    from labkit.sandbox import engine_path, rootless_script, storage_args

    pid = os.getpid()
    user, group = f"labkit-lr-{pid}", f"labkit-lrd-{pid}"
    base = Path(tempfile.mkdtemp(prefix="labkit-rootless-"))
    on_disk = contextlib.ExitStack()
    on_disk.enter_context(real_file_system(base))
    base.chmod(0o755)
    engine = None
    try:
        add_user(user, base / "home", group)
        current, _notes = fetched.choose(Path(lab.env["LABKIT_CACHE"]), Watcher())
        assert current is not None and current.current
        programs = current.root
        run_dir = base / "run"
        run_dir.mkdir(mode=0o700)
        tun = base / "tun"
        os.mknod(tun, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
        tun.chmod(0o666)
        plugins = base / "home" / ".docker" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-buildx").symlink_to(programs / "usr/libexec/docker/cli-plugins/docker-buildx")
        lab.labkit("mirror", "save", str(base / "home" / "course-bundle.tar"))
        subprocess.run(["chown", "-R", f"{user}:{user}", str(base / "home"), str(run_dir)], check=True)
        stage = base / "stage"
        stage.mkdir()
        tools = bin_folder(base / "bin", str(programs / "usr/bin/docker"))
        env = {"PATH": f"{tools}:/usr/bin:/bin", "XDG_RUNTIME_DIR": str(run_dir), "LABKIT_OFFLINE": "1"}
        learner = Learner(user, base / "home", f"unix://{run_dir}/docker.sock", env, stage, tun=tun)
        engine_env = {
            "XDG_RUNTIME_DIR": str(run_dir),
            "PATH": engine_path(current),
            "DOCKERD_ROOTLESS_ROOTLESSKIT_NET": "slirp4netns",
            "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER": "builtin",
        }
        log = open(base / "engine.log", "wb")
        engine = subprocess.Popen(
            command(
                user,
                [str(rootless_script(current)), *storage_args("containerd", True, on_tmpfs=_on_tmpfs(base))],
                engine_env,
                stage,
                tun=tun,
            ),
            stdout=log,
            stderr=log,
            cwd=base / "home",
            start_new_session=True,
        )
        for _ in range(120):
            if learner.run("docker", "-H", learner.host, "version").returncode == 0:
                break
            assert engine.poll() is None, (base / "engine.log").read_text()[-3000:]
            time.sleep(0.5)
        else:
            raise AssertionError("the rootless engine did not answer:\n" + (base / "engine.log").read_text()[-3000:])
        assert (
            "rootless" in learner.run("docker", "-H", learner.host, "info", "--format", "{{.SecurityOptions}}").stdout
        )
        # labkit finds it in the user's runtime folder before any context names it...
        found = learner.labkit("mirror", "load", "course-bundle.tar", check=False)
        assert learner.host in found.stdout, found.stdout + found.stderr
        # ...and the learner's docker CLI through the context dockerd-rootless-setuptool.sh makes
        learner.docker("context", "create", "rootless", "--docker", f"host={learner.host}")
        learner.docker("context", "use", "rootless")
        learner.run("docker", "rmi", "busybox", "debian:bookworm-slim", "nginx", "registry:2")  # as found
        yield learner
    finally:
        if engine is not None:
            os.killpg(engine.pid, signal.SIGTERM)
            try:
                engine.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(engine.pid, signal.SIGKILL)
        remove_user(user, group)
        shutil.rmtree(base, ignore_errors=True)
        on_disk.close()


def test_the_course_runs_on_the_learners_rootless_engine(rootless_learner):
    _runs_the_course(rootless_learner)
