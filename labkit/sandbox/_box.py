"""A sandbox: a throwaway unprivileged user with its own rootless Docker engine, course registry and
read-only view of the class's mirror, inside a cgroup (memory, processes) on a file system of its
own (disk), in a mount namespace where nothing of the class is visible and nothing outside the
sandbox is writable. The grader makes one per submission; what runs a submission's commands runs
as that user, in there, never as root.

    sandbox = make(Spec(...))           # as root; raises SandboxUnavailable / SandboxFailed
    argv = sandbox.command(["python", ...], env)   # that command as the user, inside the sandbox
    sandbox.limits_hit(), sandbox.peak_memory()
    take_down(sandbox)                  # processes, mounts, cgroup, user: all gone
    clean_leftovers()                   # what a killed run left

Inside, `127.0.0.1` is the engine's own network namespace (rootlesskit's, with slirp4netns out to
the internet): there the course registry listens on the port its tags name, and the mirror view
on another. Both are published on the machine's loopback under the same ports (rootlesskit's port
driver), so `127.0.0.1:PORT/learner/app` names the same registry for the notebook, its engine and
the grader. The registries run as root, their storage out of the user's reach: what the sandbox
pushes is all that reaches them.

The layout, on the sandbox's own ext4 file system (a sparse file of the disk limit, loop-mounted
at BASE/NAME; tmpfs where no loop device can be had):

    home/   the user's (0700): workspace/, docker-config/, labkit/ (the kernel's LABKIT_HOME: a copy
            of the lab's state and the registry password), the engine's data
    run/    the user's XDG_RUNTIME_DIR (0700): docker.sock, rootlesskit's state
    tmp/    the user's (0700): bound over /tmp and /var/tmp inside; shm/ over /dev/shm
    lab/    root's (0700): the registries' configs and storage, the grader's copy of the state
    tun     a /dev/net/tun the user can open (the machine's may be 0600 without udev)
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..engines import Engine
from ..errors import LabkitError, SandboxFailed, SandboxUnavailable
from ..home import State
from . import _cgroups
from ._basics import BASE, PREFIX
from ._disk import lay_out, make_disk, unmount
from ._engine import missing, start_engine
from ._sandbox import Running, Sandbox, Spec
from ._services import cut_internet, forget_cut, serve_packages, start_registries, write_state
from ._users import add_user, del_user
from ._view import bind_later, hold_namespace

log = logging.getLogger(__name__)


# --- making one ----------------------------------------------------------------------------
def make(spec: Spec) -> Sandbox:
    """A running sandbox for `spec`; anything made on the way is taken down when a step fails."""
    if lacks := missing(spec.engine):
        raise SandboxUnavailable(lacks)
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o711)  # the user enters its own folder in there, and sees no other
    sandbox = None
    try:
        uid, gid = add_user(spec.name)
        sandbox = Sandbox(spec, BASE / spec.name, uid, gid, _cgroups.Group(spec.name))
        sandbox.group.create(spec.limits.memory, spec.limits.pids)
        make_disk(sandbox)
        lay_out(sandbox)
        hold_namespace(sandbox)
        start_engine(sandbox)
        start_registries(sandbox)
        serve_packages(sandbox)
        if spec.offline:
            cut_internet(sandbox)
        write_state(sandbox)
        _record(sandbox)
        return sandbox
    except BaseException:
        if sandbox is not None:
            take_down(sandbox)
        else:
            del_user(spec.name)
        raise


def _record(sb: Sandbox) -> None:
    """What `adopt` needs to take the sandbox back, in root's part of it."""
    pids = {"holder": sb.holder.pid, "engine": sb.engine_proc.pid, "engine_child": sb.engine_child, "loop": sb.loop}
    sb.processes_file.write_text(json.dumps(pids))


def adopt(spec: Spec) -> Sandbox | None:
    """The sandbox `spec.name` that another run made (a hub killed and started again), taken back as it
    is: its user, cgroup, processes and lab state read from the machine. None when nothing of it is
    left to take; whether it still runs is `Sandbox.running()` (what does not is for `take_down`)."""
    try:
        user = pwd.getpwnam(spec.name)
    except KeyError:
        return None
    sb = Sandbox(spec, BASE / spec.name, user.pw_uid, user.pw_gid, _cgroups.Group(spec.name))
    try:
        pids = json.loads(sb.processes_file.read_text())
        sb.holder, sb.engine_proc = Running(int(pids["holder"])), Running(int(pids["engine"]))
        sb.engine_child, sb.loop = int(pids["engine_child"]), bool(pids["loop"])
        sb.state = State.load(sb.paths)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # half made when its run was killed: not running, taken down whole
    return sb


@dataclass(frozen=True)
class Health:
    """A running sandbox as its class view shows it: does its engine answer, how much memory do its
    programs hold (`_cgroups.Group.own_memory`: without the page cache the kernel takes back first)."""

    engine: bool
    memory: int | None


def health(name: str) -> Health | None:
    """How the sandbox `name` is now; None when there is no such sandbox."""
    if not (BASE / name).is_dir():
        return None
    try:
        with Engine(f"unix://{BASE / name / 'run' / 'docker.sock'}", timeout=2) as engine:
            answers = engine.ping()
    except LabkitError:  # unreachable, or answering nonsense
        answers = False
    return Health(engine=answers, memory=_cgroups.Group(name).own_memory())


def keep(sb: Sandbox, folder: Path) -> None:
    """`folder` bound at `sb.kept` in a sandbox made without one (`Spec.kept` None: made ahead, then
    given to a learner), as `Spec.kept` binds it in one made for them."""
    bind_later(sb, folder, sb.kept)


def take_down(sb: Sandbox) -> None:
    """Every process of it (the kernel, the engine and its containers, the registries, the namespace's
    holder) killed at once through its cgroup; then its file system, cgroup and user removed."""
    sb.group.kill_all()
    for proc in (sb.holder, sb.engine_proc):
        if proc is not None:
            proc.poll()
    unmount(sb.root)
    shutil.rmtree(sb.root, ignore_errors=True)
    sb.group.remove()
    if sb.spec.offline:
        forget_cut(sb.name)
    del_user(sb.name)


def names_of_runs() -> dict[str, int]:
    """Every sandbox user on this machine: {name: the pid of the run that made it}."""
    found = {}
    for entry in pwd.getpwall():
        parts = entry.pw_name.split("-")
        if entry.pw_name.startswith(PREFIX + "-") and len(parts) == 4 and parts[2].isdigit():
            found[entry.pw_name] = int(parts[2])
    for group in _cgroups.leftovers():
        parts = group.name.split("-")
        if group.name.startswith(PREFIX + "-") and len(parts) == 4 and parts[2].isdigit():
            found.setdefault(group.name, int(parts[2]))
    return found


def clean_leftovers(run: int | None = None, keep: frozenset[str] = frozenset()) -> list[str]:
    """Take down the sandboxes of runs that are gone (killed: SIGKILL, a power cut), or every one of
    the run `run` (an interrupted run, whose workers were stopped mid-way), but those named in `keep`
    (a restarted hub's, taken back); their names."""
    cleaned = []
    for name, pid in names_of_runs().items():
        if ((pid != run) if run is not None else _alive(pid)) or name in keep:
            continue
        group = _cgroups.Group(name)
        try:
            group.kill_all()
            unmount(BASE / name)
            shutil.rmtree(BASE / name, ignore_errors=True)
            (BASE / f"{name}.img").unlink(missing_ok=True)
            group.remove()
            forget_cut(name)
            del_user(name)
        except (SandboxFailed, OSError) as e:  # one that will not go must not stop a run: the next tries again
            log.warning("labkit: the sandbox %s of an earlier run could not be taken down yet: %s", name, e)
            continue
        cleaned.append(name)
    return cleaned


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
