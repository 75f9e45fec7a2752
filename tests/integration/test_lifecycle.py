"""`labkit up | status | env | down` against a real engine and real registries."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from conftest import run, start_lab, stop_lab

from labkit.engines import dockerd, fetched
from labkit.home import EngineState, LabPaths
from labkit.machine import processes


def _pids(lab) -> tuple:
    status = lab.refresh()
    return (
        status["registry"]["details"]["pid"],
        status["mirror"]["details"]["pid"],
        status["engine"]["details"]["host"],
        (lab.home / "engine" / "dockerd.pid").read_text(),
    )


def _bridge(lab) -> str:
    return f"lk-{LabPaths(home=lab.home, cache=lab.home).key}"


def _iptables_rules() -> str:
    return "".join(
        subprocess.run(["iptables-save", "-t", t], capture_output=True, text=True).stdout for t in ("filter", "nat")
    )


def test_second_up_is_a_no_op(lab):
    before = _pids(lab)
    result = lab.labkit("up")
    assert "already up: nothing to do" in result.stdout
    assert "Starting" not in result.stderr and "Building" not in result.stderr
    assert _pids(lab) == before


def test_status_reports_engine_registry_and_mirror(lab):
    status = lab.refresh()
    assert status["ok"] is True
    assert status["engine"]["details"]["managed"] is True
    details = status["engine"]["details"]
    assert fetched.major(details["version"]) >= fetched.MINIMUM  # today's engine, its store and builder said
    assert (details["store"], details["builder"]) == ("containerd", "BuildKit")
    assert status["engine"]["details"]["mirrors"] == [f"http://{lab.mirror}/"]
    assert status["registry"]["details"]["user"] == "learner"
    password_file = status["registry"]["details"]["password_file"]
    assert oct(os.stat(password_file).st_mode & 0o777) == "0o600"
    assert status["mirror"]["details"]["images"] == ["busybox:latest", "debian:bookworm-slim", "nginx:latest"]
    table = lab.labkit("status").stdout
    for word in ("engine", "registry", "mirror", lab.registry, "learner"):
        assert word in table


def test_env_points_a_shell_at_the_lab(lab):
    exports = lab.labkit("env").stdout
    assert f"export DOCKER_HOST={lab.host}" in exports
    assert f"export LABKIT_REGISTRY={lab.registry}" in exports
    assert "export LABKIT_USER=learner" in exports
    shell_env = {k: v for k, v in lab.env.items() if k != "DOCKER_HOST"}
    script = (
        f'eval "$({sys.executable} -m labkit env)" && '
        'echo "$DOCKER_HOST|$LABKIT_REGISTRY|$LABKIT_USER" && docker version --format "{{.Server.Version}}"'
    )
    script += " && docker buildx version >/dev/null && echo BuildKit"  # the lab's CLI, with its buildx plugin
    shell_env["PATH"] = os.environ["PATH"]  # a shell of the machine's own: `labkit env` puts the lab's CLI first
    lines = run(["bash", "-c", script], env=shell_env).stdout.split()
    assert lines[0] == f"{lab.host}|{lab.registry}|learner"
    assert fetched.major(lines[1]) >= fetched.MINIMUM and lines[2] == "BuildKit"


def test_down_stops_only_what_labkit_started(lab, tmp_path):
    """A second lab on the session lab's engine (as if it were root's own engine, so the registries run
    as programs beside it): down leaves that engine, its image and its container alone, and the base
    image names as they were. (As an ordinary user they are containers: test_learner_engine.py.)"""
    lab.docker("pull", "busybox")
    lab.docker("tag", "busybox", "precious:1")
    lab.docker("create", "--name", "precious-box", "precious:1", "true")
    nginx_before = lab.docker("images", "-q", "nginx:latest").stdout.strip()
    other = start_lab(tmp_path / "home", tmp_path / "docker-config", "--engine", lab.host)
    try:
        assert other.status["engine"]["details"]["managed"] is False
        assert other.status["mirror"]["details"]["images"] == ["busybox:latest", "debian:bookworm-slim", "nginx:latest"]
        down = other.labkit("down")
        assert "course registry" in down.stdout and "mirror" in down.stdout
        assert "Docker engine (dockerd" not in down.stdout
        assert f"Your own Docker engine at {lab.host} was left running" in down.stdout
        after = other.labkit("status", "--json", check=False)
        assert after.returncode == 1
        parts = json.loads(after.stdout)
        assert parts["registry"]["up"] is False and parts["mirror"]["up"] is False
        assert parts["engine"]["up"] is True  # not ours: still running
        assert lab.docker("image", "inspect", "precious:1").returncode == 0
        assert lab.docker("container", "inspect", "precious-box").returncode == 0
        assert lab.docker("images", "-q", "nginx:latest").stdout.strip() == nginx_before
    finally:
        stop_lab(other)
        lab.docker("rm", "-f", "precious-box", check=False)
        lab.docker("rmi", "precious:1", check=False)


def test_a_managed_engine_leaves_the_firewall_rules_of_other_engines_alone(lab, tmp_path):
    """A dockerd that manages iptables empties the DOCKER chains, which every engine on the machine
    shares, as it starts: the machine's own engine, or another lab's, would lose its published
    ports. Ours adds only rules of its own, and they go with it."""
    other = [
        "-d",
        "192.0.2.1/32",
        "-p",
        "tcp",
        "--dport",
        "9",
        "-m",
        "comment",
        "--comment",
        "labkit-test another engine",
        "-j",
        "RETURN",
    ]
    made = subprocess.run(["iptables", "-t", "nat", "-N", "DOCKER"], capture_output=True).returncode == 0
    subprocess.run(["iptables", "-t", "nat", "-A", "DOCKER", *other], check=True)
    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    try:
        engine = dockerd.start(paths, f"http://{lab.mirror}", EngineState())
        try:
            rules = _iptables_rules()
            assert "labkit-test another engine" in rules
            assert (
                f'-s {engine.subnet} ! -d {engine.subnet} -m comment --comment "labkit {engine.bridge}" -j MASQUERADE'
                in rules
            )
        finally:
            dockerd.stop(paths)
        assert engine.bridge not in _iptables_rules()
    finally:
        subprocess.run(["iptables", "-t", "nat", "-D", "DOCKER", *other], capture_output=True)
        if made:
            subprocess.run(["iptables", "-t", "nat", "-X", "DOCKER"], capture_output=True)


def test_managed_engine_beside_another_keeps_its_images_across_down_and_up(lab, tmp_path):
    second = start_lab(tmp_path / "home", tmp_path / "docker-config", "--managed")
    try:
        assert second.host != lab.host  # two managed engines run side by side
        second.docker("pull", "busybox")
        second.docker("tag", "busybox", "precious:1")
        second.docker("create", "--name", "precious-box", "precious:1", "true")
        registry_port = int(second.registry.rsplit(":", 1)[1])
        pushed = f"{second.registry}/learner/precious:1"
        second.docker("login", "-u", "learner", "--password-stdin", second.registry, input=second.password)
        second.docker("tag", "precious:1", pushed)
        second.docker("push", pushed)
        # its containerd, dockerd's own, runs with the garbage collector's setting added (once a second,
        # not hundreds of times: see dockerd.CONTAINERD_GC), and is the real program, not a shell
        config = f"/run/labkit-{_bridge(second)[3:]}/containerd/containerd.toml"
        assert "[plugins.scheduler]\n  pause_threshold = 0.0" in Path(config).read_text()
        running = [
            processes.cmdline(int(pid))
            for pid in os.listdir("/proc")
            if pid.isdigit() and config in processes.cmdline(int(pid))
        ]
        assert [argv[0] for argv in running] == [
            shutil.which("containerd", path=second.env["PATH"])
        ]  # the engine's own

        down = second.labkit("down")
        assert "Docker engine (dockerd" in down.stdout
        status = second.labkit("status", "--json", check=False)
        assert status.returncode == 1
        assert not any(json.loads(status.stdout)[part]["up"] for part in ("engine", "registry", "mirror"))
        assert lab.docker("version").returncode == 0  # the session's engine was not touched
        # the engine's firewall rules (named after its bridge) go with the bridge at down
        gone, kept = _bridge(second), _bridge(lab)
        assert gone not in _iptables_rules(), "down left iptables rules for the stopped engine's bridge"
        assert kept in _iptables_rules(), "the running session engine's rules must stay"
        # and its exec root in /run (dockerd leaves it), while the running engine keeps its own
        assert not Path(f"/run/labkit-{gone[3:]}").exists() and Path(f"/run/labkit-{kept[3:]}").is_dir()
        # dockerd is ended once its shutdown is logged and its containerd has exited (it would only
        # wait a second more): no containerd of it runs on, and its pid file is gone with it
        assert not any(argument.startswith(f"/run/labkit-{gone[3:]}") for argument in processes.all_arguments())
        stopped = dockerd.layout(LabPaths(home=tmp_path / "home", cache=tmp_path))
        assert not stopped.pidfile.exists()
        assert dockerd.SHUT_DOWN in stopped.log.read_text()

        # at once, while the registry's connections of the push wait in TIME-WAIT: it keeps its port
        up = second.labkit("up")
        assert "moves to" not in up.stderr + up.stdout
        assert second.refresh()["registry"]["details"]["url"] == f"127.0.0.1:{registry_port}"
        second.docker("pull", pushed)
        second.labkit("down")

        with socket.socket() as squatter:  # something else takes the registry's port meanwhile
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the push's connections wait in TIME-WAIT
            squatter.bind(("127.0.0.1", registry_port))
            squatter.listen()
            up = second.labkit("up")
            said = up.stderr.replace("\n", " ")
            assert re.search(rf"port {registry_port} of the course registry is taken .* moves to \d+", said)
        second.refresh()
        assert second.registry != f"127.0.0.1:{registry_port}"
        # the learner is told what that means, and their tags of the old address are carried over
        assert f"log in again with `docker login {second.registry}`" in said
        carried = f"{second.registry}/learner/precious:1"
        assert second.docker("image", "inspect", carried).returncode == 0
        second.docker("login", "-u", "learner", "--password-stdin", second.registry, input=second.password)
        second.docker("push", carried)  # the registry's storage came along: its content is the same
        assert second.docker("image", "inspect", "precious:1").returncode == 0
        assert second.docker("container", "inspect", "precious-box").returncode == 0
    finally:
        stop_lab(second)


def test_down_unmounts_only_what_the_engine_mounted(lab, tmp_path):
    """Someone's tmpfs at the engine's data folder is theirs: the engine runs on it, and stopping the
    engine (then a second clean-up, with nothing running) leaves it mounted."""
    paths = LabPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    data = dockerd.layout(paths).data_root
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "someones-tmpfs", str(data)], check=True)
    theirs = [m.device for m in dockerd.mounts() if m.point == str(data)]
    try:
        dockerd.start(paths, f"http://{lab.mirror}", EngineState())
        try:
            assert (data / "image").is_dir()  # the engine keeps its files on the tmpfs
        finally:
            dockerd.stop(paths)
        assert [m.device for m in dockerd.mounts() if m.point == str(data)] == theirs, "the tmpfs must stay mounted"
        assert not dockerd.is_bound_onto_itself(data)
        dockerd.stop(paths)
        assert [m.device for m in dockerd.mounts() if m.point == str(data)] == theirs
    finally:
        while str(data) in dockerd.mount_points():
            subprocess.run(["umount", str(data)], check=True)
