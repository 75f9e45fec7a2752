"""A learner's lab inside the single-user image (a class on Kubernetes: Zero to JupyterHub, KubeSpawner).

    labkit singleuser [COMMAND ...]      (the image's entrypoint; COMMAND: jupyterhub-singleuser)

Run as the image's learner, never root, before JupyterHub's single-user server: start the learner's
rootless Docker engine (the image's Engine 28+, containerd image store; its data in the home, so a
learner who comes back finds their images), give it the base images (`LABKIT_BUNDLE`: a `labkit
mirror save` file, loaded the first time; `LABKIT_MIRROR`: the class's registry mirror, which the
engine pulls Docker Hub's names through, else the lab's own mirror on this engine), bring the
course registry and mirror up on it (`labkit up` on the learner's own engine: containers), copy the
learner notebooks into the workspace once, and then run COMMAND in the workspace with the lab's
variables, as `labkit lab` does. docs/classroom.md tells the whole path.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..course import release
from ..engines import Engine, dockerd, fetched
from ..errors import LabkitError
from ..home import LabPaths, State
from ..labs import jupyter, lifecycle
from ..machine import Watcher, processes
from ..registries import bundles
from ..sandbox import rootless_script

ENGINE_START = 60  # seconds the rootless engine gets to answer


@dataclass
class Start:
    """What to run once the lab is up: argv, its environment, and its folder (the workspace)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


def prepare(paths: LabPaths, command: list[str], watcher: Watcher, environ: dict[str, str] | None = None) -> Start:
    """The learner's engine and lab up, the workspace stocked; what to run then. Raises LabkitError."""
    environ = dict(os.environ if environ is None else environ)
    if os.geteuid() == 0:
        raise LabkitError(
            "`labkit singleuser` runs a learner's lab, and never as root.",
            "run the container as its learner (uid 1000: the Helm value singleuser.uid), see docs/classroom.md.",
        )
    runtime = Path(environ.get("XDG_RUNTIME_DIR") or f"/tmp/labkit-run-{os.getuid()}")
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    environ["XDG_RUNTIME_DIR"] = str(runtime)
    host = environ.get("DOCKER_HOST") or f"unix://{runtime / 'docker.sock'}"
    if not _answers(host):
        _clear_stale(runtime)
        for note in start_engine(paths, host, environ):
            watcher.note(note)
    environ["DOCKER_HOST"] = os.environ["DOCKER_HOST"] = host  # `labkit up` below finds it there
    bundle = environ.get("LABKIT_BUNDLE", "")
    if bundle and _missing(host, bundles.names(Path(bundle))):
        with watcher.step(f"Loading the base images from {bundle}"):
            lifecycle.load_bundle(paths, Path(bundle), watcher)
    for note in lifecycle.up(paths, watcher=watcher).notes:
        watcher.note(note)
    workspace = Path(environ.get("LABKIT_WORKSPACE") or Path.home() / "workspace")
    notebooks = Path(environ.get("LABKIT_NOTEBOOKS") or Path(__file__).resolve().parents[2] / "notebooks")
    release.stock(notebooks, workspace)  # never overwrites the learner's own
    env = jupyter.environment(lifecycle.env(paths), workspace, environ)
    argv = list(command) or ["jupyterhub-singleuser"]
    if Path(argv[0]).name in (
        "jupyterhub-singleuser",
        "jupyter-lab",
    ):  # no pop-up fetching Jupyter's news (an offline class); the lessons' trackers in the server
        argv.append(f"--LabApp.app_settings_dir={jupyter.settings_dir(paths.home)}")
        argv.append(jupyter.TRACKERS)
    else:  # another server: no trackers of its own, so a kernel's `lab.track` runs one
        env.pop(jupyter.TRACK_VARIABLE, None)
    if not shutil.which(argv[0], path=env.get("PATH")):
        raise LabkitError(
            f"There is no program {argv[0]!r} to run once the lab is up.",
            "give the single-user server's command (JupyterHub gives jupyterhub-singleuser).",
        )
    return Start(argv, env, workspace)


def start_engine(paths: LabPaths, host: str, environ: dict[str, str]) -> list[str]:
    """The learner's rootless engine (dockerd-rootless.sh: rootlesskit, slirp4netns), left running for the
    server that follows; it ends with the container (its state, in the home, is containerd's and
    survives that). What to tell the learner (its storage, where the home is on overlayfs)."""
    engine = fetched.installed()
    script = rootless_script(engine) if engine else None
    if engine is None or script is None:
        raise LabkitError(
            "This image has no current Docker engine with its rootless script (dockerd-rootless.sh).",
            "build the image from deploy/singleuser/Dockerfile, which installs both.",
        )
    args = [str(script), f"--host={host}", "--feature=containerd-snapshotter=true"]
    driver, notes = storage_for(engine_data(environ))
    args += [f"--storage-driver={driver}"] if driver else []
    mirror = environ.get("LABKIT_MIRROR", "").rstrip("/") or f"http://127.0.0.1:{_own_mirror_port(paths)}"
    args += [f"--registry-mirror={mirror}", f"--insecure-registry={mirror.split('://', 1)[-1]}"]
    paths.home.mkdir(parents=True, exist_ok=True)
    log = paths.home / "engine.log"
    proc = processes.spawn(
        args,
        log,
        env={
            **environ,
            "DOCKERD_ROOTLESS_ROOTLESSKIT_NET": "slirp4netns",
            "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER": "builtin",
        },
    )
    failure = processes.wait_ready(lambda: _answers(host), proc, ENGINE_START)
    if failure:
        raise LabkitError(
            f"Your Docker engine did not start: {failure}.\n{processes.log_tail(log)}",
            "rootless Docker needs user namespaces and /dev/net/tun in the pod "
            "(docs/classroom.md: the pod's security settings); tell your instructor.",
        )
    return notes


def engine_data(environ: dict[str, str]) -> Path:
    """Where a rootless engine keeps its images: $XDG_DATA_HOME/docker (dockerd-rootless.sh's default)."""
    return Path(environ.get("XDG_DATA_HOME") or Path(environ.get("HOME") or Path.home()) / ".local/share") / "docker"


def storage_for(data: Path, table: list[dockerd.Mount] | None = None) -> tuple[str, list[str]]:
    """(the storage driver the pod's engine is given, "" for its own choice; what to say). A home on
    overlayfs (no volume under it: the container's own file system) cannot hold overlay snapshots
    ("failed to mount … invalid argument" at the first image), and a rootless engine can mount no
    file system of its own there: it keeps its images with containerd's native snapshotter."""
    if not dockerd.on_overlayfs(data, table):
        return "", []
    return "native", [
        f"{data} is on the container's own file system (overlayfs), where image layers cannot be overlaid: "
        "your engine keeps them without overlay (slower, more disk). Ask your instructor for a volume for "
        "your home (docs/classroom.md)."
    ]


#: What a rootless engine keeps in its runtime folder; left by an engine that is gone (a container
#: restarted with its /tmp), its pid files name processes of the new container and stop the next start.
RUNTIME_STATE = ("docker.sock", "docker.pid", "docker", "dockerd-rootless", "runc")


def _clear_stale(runtime: Path) -> None:
    for name in RUNTIME_STATE:
        path = runtime / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _own_mirror_port(paths: LabPaths) -> int:
    """The port of the lab's mirror (a container on this very engine, which `labkit up` starts): chosen now
    the first time, so the engine pulls Docker Hub's names through it from its first start on."""
    state = State.load(paths)
    if not state.mirror.port:
        state.mirror.port = processes.free_port()
        state.save(paths)
    return state.mirror.port


def _answers(host: str) -> bool:
    try:
        with Engine(host, timeout=2) as engine:
            return engine.ping()
    except Exception:  # noqa: BLE001 - not (yet) an engine there
        return False


def _missing(host: str, refs: list[str]) -> list[str]:
    """The images of `refs` the engine at `host` does not have."""
    with Engine(host) as engine:
        return [ref for ref in refs if engine.images.id(ref) is None]
