"""What a sandbox's lab serves it: its course registry and a read-only view of the class's mirror (run
as root, their storage out of the user's reach), the course's Debian package source in its
network namespace, its way to the internet cut where the lab holds the course's packages, and
the state file its kernel reads.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess

from ..engines import Engine, docker_cli
from ..home import LabPaths, PackagesState, RegistryState, State
from ..machine import processes
from ..registries import MIRROR, REGISTRY, package_source, programs
from ._basics import run_as_root, sbin_path
from ._sandbox import Sandbox

log = logging.getLogger(__name__)


def start_registries(sb: Sandbox) -> None:
    """The course registry (its own, with a login) and the view of the class's mirror, as root in the
    engine's network namespace, each published on the machine's loopback under the same port."""
    paths = sb.paths
    mirror_dir = paths.registry_dir(MIRROR.name)
    mirror_dir.mkdir(parents=True)
    (mirror_dir / "data").symlink_to(sb.spec.mirror_data)
    registry_port = processes.free_port()
    if sb.spec.seeded is not None:
        shutil.copytree(sb.spec.seeded, programs.data_dir(paths, REGISTRY))
    for kind, port in ((REGISTRY, registry_port), (MIRROR, sb.state.mirror.port)):
        run_as_root(
            [
                "rootlessctl",
                f"--socket={sb.run_dir / 'dockerd-rootless' / 'api.sock'}",
                "add-ports",
                f"127.0.0.1:{port}:{port}/tcp",
            ],
            f"publishing its {kind.title}",
        )
        part = programs.start_at(paths, kind, port, wrap=sb.in_network, readonly=kind is MIRROR)
        if kind is REGISTRY:
            sb.state.registry = part
        else:
            sb.state.mirror = part


def serve_packages(sb: Sandbox) -> None:
    """Its Debian package source (`registries.package_source`), as root in the engine's network namespace, where the
    engine's containers reach it on their bridge's gateway: the class's store read, what it fetches
    (online) kept on the sandbox's own disk; named in the user's client configuration."""
    if sb.spec.packages is None:
        return
    with Engine(sb.host, timeout=30) as engine:
        gateway = engine.bridge_gateway()
    if not gateway:
        return
    port = processes.free_port()
    store = sb.root / "lab" / "packages"
    package_source.start(
        store,
        "0.0.0.0",
        port,
        sb.root / "lab" / "packages.log",
        offline=sb.spec.offline,
        wrap=sb.in_network,
        shared=sb.spec.packages,
        namespace_of=sb.engine_child,
    )
    sb.state.packages = PackagesState(address=gateway, port=port)
    docker_cli.offer_packages(sb.docker_config, sb.state.packages.url)
    os.chown(sb.docker_config / "config.json", sb.uid, sb.gid)


def cut_internet(sb: Sandbox) -> None:
    """Nothing of the sandbox reaches the internet: its engine's namespace (the kernel, the registries,
    the package source, its containers) leaves it only through slirp4netns, a process of the
    sandbox's user in the machine's own network namespace; there, root's rules refuse that user
    everything but the machine's loopback (where rootlesskit's published ports answer). Inside its
    own namespaces the user is root of its network, so rules there it could undo; these it cannot."""
    for tool in ("iptables", "ip6tables"):
        program = shutil.which(tool, path=sbin_path())
        if program:
            run_as_root(
                [
                    program,
                    "-w",
                    "-I",
                    "OUTPUT",
                    "1",
                    "-m",
                    "owner",
                    "--uid-owner",
                    str(sb.uid),
                    "!",
                    "-o",
                    "lo",
                    "-m",
                    "comment",
                    "--comment",
                    sb.name,
                    "-j",
                    "REJECT",
                ],
                "cutting it from the internet",
            )


def forget_cut(name: str) -> None:
    """The rules `cut_internet` made for the sandbox `name` (its uid may be another user's next)."""
    for tool in ("iptables", "ip6tables"):
        program = shutil.which(tool, path=sbin_path())
        if not program:
            continue
        listed = subprocess.run([program, "-w", "-S", "OUTPUT"], capture_output=True, text=True).stdout
        for rule in listed.splitlines():
            words = shlex.split(rule)
            if words[:2] == ["-A", "OUTPUT"] and "--comment" in words and words[words.index("--comment") + 1] == name:
                subprocess.run([program, "-w", "-D", *words[1:]], capture_output=True)


def write_state(sb: Sandbox) -> None:
    """The grader's state of this lab, and the kernel's copy: the registries run by another (up when
    they answer), and the password in a file the user may read."""
    sb.state.save(sb.paths)
    copy = State(
        engine=sb.state.engine,
        registry=RegistryState(port=sb.state.registry.port, user=sb.state.registry.user, borrowed=True),
        mirror=RegistryState(port=sb.state.mirror.port, borrowed=True),
    )
    kernel_paths = LabPaths(home=sb.kernel_home, cache=sb.kernel_home / "cache")
    copy.save(kernel_paths)
    password = kernel_paths.password_file
    password.write_text(programs.password(sb.paths) + "\n")
    for path in (kernel_paths.state_file, password):
        os.chown(path, sb.uid, sb.gid)
    os.chmod(password, 0o600)
